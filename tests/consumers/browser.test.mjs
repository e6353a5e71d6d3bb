// The packed tarball in real React + TypeScript apps (app/, copied into each setup by
// prepare.mjs), built and served by Vite 7, Vite 8 (dev server and build) and webpack 5, each
// opened in Debian's Chromium against a fresh sessionwire-server. Run by
// scripts/test-consumers.sh; `CONSUMER_SETUPS=vite7-dev,webpack5-build` picks setups.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { badgeHistory, launchBrowser, recordBadge } from "../e2e/harness.mjs";
import { freshDb, here, run, serverTranscript, startServer, startStatic, startVite, stop, watchConsole } from "./lib.mjs";

const SETUPS = [
  { name: "vite7-dev", dir: "vite7", serve: "dev" },
  { name: "vite7-build", dir: "vite7", serve: "preview" },
  { name: "vite8-dev", dir: "vite8", serve: "dev" },
  { name: "vite8-build", dir: "vite8", serve: "preview" },
  { name: "webpack5-build", dir: "webpack5", serve: "static" },
];
const picked = process.env.CONSUMER_SETUPS?.split(",");

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/**
 * Starts a setup's app server (building first where it is a build); returns {origin, close,
 * output()}: `output()` is what the build and the server printed (checked for warnings).
 */
async function startApp({ dir, serve }) {
  const cwd = path.join(here, dir);
  if (serve === "dev") {
    // A cold start, as on a fresh install: Vite pre-bundles the dependencies again.
    rmSync(path.join(cwd, "node_modules/.vite"), { recursive: true, force: true });
    const { child, origin } = await startVite(cwd, "dev");
    return { origin, close: () => stop(child), output: () => child.output() };
  }
  if (serve === "preview") {
    const built = await run(process.execPath, [path.join(cwd, "node_modules/vite/bin/vite.js"), "build"], cwd);
    const { child, origin } = await startVite(cwd, "preview");
    return { origin, close: () => stop(child), output: () => built + child.output() };
  }
  // build.mjs itself fails on any webpack warning or error.
  const built = await run(process.execPath, ["build.mjs"], cwd);
  const { server, origin } = await startStatic(path.join(cwd, "dist"));
  return { origin, close: () => new Promise((resolve) => server.close(resolve)), output: () => built };
}

function escape(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Chromium's console error for a WebSocket to a server that is down: the one allowed message. */
function refusedPattern(server) {
  return new RegExp(`^WebSocket connection to '${escape(server.ws)}' failed: Error in connection establishment: net::ERR_CONNECTION_REFUSED$`);
}

/** Everything one test needs: its server, a fresh browser context (own IndexedDB), its pages. */
async function fixture(app, { extraArgs = [] } = {}) {
  const db = freshDb();
  const f = {
    server: await startServer({ db, origin: app.origin, extraArgs }),
    context: await browser.newContext(),
    problems: [],
    pages: [],
    allowRefused: false,
  };
  f.open = async (page) => {
    page ??= await f.context.newPage();
    if (!f.pages.includes(page)) {
      f.pages.push(page);
      watchConsole(page, f.problems, f.allowRefused ? refusedPattern(f.server) : null);
    }
    await page.goto(`${app.origin}/?ws=${encodeURIComponent(f.server.ws)}`);
    return page;
  };
  f.kill = () => stop(f.server.child, "SIGKILL");
  f.restart = async () => {
    f.server = await startServer({ db, origin: app.origin, listen: f.server.address, extraArgs });
  };
  f.close = async () => {
    await f.context.close();
    await stop(f.server.child);
  };
  /** The React console must stay clean: no warning, no error, no uncaught exception. */
  f.assertCleanConsole = () => assert.deepEqual(f.problems, [], "console warnings or errors");
  return f;
}

const waitOpen = (page) => page.waitForSelector('[data-testid="connection"][data-status="open"]', { timeout: 20_000 });

async function send(page, text) {
  await page.fill('[data-testid="input"]', text);
  await page.click('[data-testid="send"]');
}

/** The rendered conversation, as [role, text, status]. */
function rendered(page) {
  return page.$$eval('[data-testid="messages"] > li', (items) =>
    items.map((li) => [li.dataset.role, li.querySelector(".text").textContent, li.dataset.status]),
  );
}

/** Waits until the page shows `text` as a complete assistant reply, the badge off, the store idle. */
function waitForReply(page, text, timeout = 30_000) {
  return page.waitForFunction(
    (text) => {
      const shown = [...document.querySelectorAll('[data-testid="messages"] > li[data-role="assistant"]')].some(
        (li) => li.querySelector(".text").textContent === text && li.dataset.status === "complete",
      );
      const badge = document.querySelector('[data-testid="running"]');
      const s = window.sessionwire.getState();
      return shown && badge.hidden && badge.dataset.running === "false" && !s.running && s.outbox.length === 0;
    },
    text,
    { timeout, polling: 50 },
  );
}

/** Waits until the current session's assistant reply has some text (a turn is mid-stream). */
function waitMidTurn(page) {
  return page.waitForFunction(
    () => {
      const s = window.sessionwire.getState();
      const reply = s.messages.at(-1);
      return s.running && reply?.role === "assistant" && reply.text.length > 0 && reply.status !== "complete";
    },
    null,
    { timeout: 15_000, polling: 20 },
  );
}

function count(list, role, text) {
  return list.filter(([r, t]) => r === role && t === text).length;
}

/** The server has `text` stored exactly once as a user message and `echo` exactly once as a reply. */
async function assertStoredOnce(server, text, echo) {
  const stored = await serverTranscript(server.ws);
  assert.equal(stored.users.filter((m) => m.text === text).length, 1, `user "${text}" stored once: ${JSON.stringify(stored.users)}`);
  assert.equal(
    stored.assistants.filter((m) => m.text === echo && m.ended).length,
    1,
    `reply "${echo}" stored once: ${JSON.stringify(stored.assistants)}`,
  );
  return stored;
}

/** In the page: whether the package's IndexedDB outbox holds an entry with `text`. */
function savedOutbox(text) {
  return new Promise((resolve) => {
    const open = indexedDB.open("sessionwire");
    // Never create the database here (the package creates it, with its object stores).
    open.onupgradeneeded = () => open.transaction.abort();
    open.onerror = () => resolve(false);
    open.onsuccess = () => {
      const db = open.result;
      const all = db.transaction("outbox").objectStore("outbox").getAll();
      all.onerror = () => resolve(false);
      all.onsuccess = () => {
        db.close();
        resolve(all.result.some((entry) => entry.text === text));
      };
    };
  });
}

/** The conversation shown is exactly `expected` ([role, text] pairs, all settled). */
async function assertShown(page, expected) {
  const shown = await rendered(page);
  assert.deepEqual(shown.map(([role, text]) => [role, text]), expected);
  const settled = shown.every(([role, , status]) => status === (role === "user" ? "sent" : "complete"));
  assert.ok(settled, `users sent, replies complete: ${JSON.stringify(shown)}`);
  const store = await page.evaluate(() => window.sessionwire.getState().messages.map((m) => [m.role, m.text]));
  assert.deepEqual(store, expected);
}

for (const setup of SETUPS) {
  if (picked && !picked.includes(setup.name)) continue;
  describe(setup.name, () => {
    let app;
    before(async () => {
      app = await startApp(setup);
    });
    after(async () => {
      await app?.close();
    });

    test("a send creates a session; the echo streams and completes; unchanged messages keep identity", async () => {
      const f = await fixture(app, { extraArgs: ["--echo-delay-ms", "30"] });
      try {
        const page = await f.open();
        await waitOpen(page);
        assert.equal(await page.getAttribute('[data-testid="running"]', "data-running"), "false");
        await recordBadge(page);
        await send(page, "hello there");
        await waitForReply(page, "echo: hello there");
        assert.deepEqual(await badgeHistory(page), ["false", "true", "false"], "the badge went on, then off");
        await assertShown(page, [["user", "hello there"], ["assistant", "echo: hello there"]]);
        const sessionId = await page.evaluate(() => window.sessionwire.getState().currentSessionId);
        assert.ok(sessionId);
        await page.waitForSelector(`[data-session-id="${sessionId}"]`);
        assert.equal(await page.textContent('[data-testid="session-state"]'), "ACTIVE");

        // Keep the first two messages (objects and rendered rows), stream a reply, compare.
        await page.evaluate(() => {
          const s = window.sessionwire.getState();
          window.kept = { first: s.messages[0], second: s.messages[1], messages: s.messages, frames: 0 };
          window.kept.commits = s.messages.map((m) => window.rowCommits[m.id]);
          window.sessionwire.subscribe(() => window.kept.frames++);
        });
        await send(page, "/slow 6 a second reply");
        await waitForReply(page, "echo: a second reply");
        const identity = await page.evaluate(() => {
          const s = window.sessionwire.getState();
          const k = window.kept;
          return {
            frames: k.frames,
            count: s.messages.length,
            first: s.messages[0] === k.first,
            second: s.messages[1] === k.second,
            arrayIsNew: s.messages !== k.messages,
            stable: window.sessionwire.getState() === s,
            commits: [s.messages[0], s.messages[1]].map((m) => window.rowCommits[m.id]),
            keptCommits: k.commits,
            newRowCommits: window.rowCommits[s.messages[3].id] ?? 0,
          };
        });
        assert.ok(identity.frames > 6, `the reply streamed over several frames (${identity.frames})`);
        assert.equal(identity.count, 4);
        assert.ok(identity.first && identity.second, "messages[0] and [1] are the same objects after the stream");
        assert.ok(identity.arrayIsNew && identity.stable);
        assert.deepEqual(identity.commits, identity.keptCommits, "React.memo: the unchanged rows did not render again");
        assert.ok(identity.newRowCommits > 1, "the streaming row rendered as it streamed");
        f.assertCleanConsole();
      } finally {
        await f.close();
      }
    });

    test("switch away (new session) and back mid-turn: the reply completes exactly once", async () => {
      const f = await fixture(app);
      try {
        const page = await f.open();
        await waitOpen(page);
        const long = "/slow 25 the long answer keeps streaming";
        const echo = "echo: the long answer keeps streaming";
        await send(page, long);
        await waitMidTurn(page);
        const first = await page.evaluate(() => window.sessionwire.getState().currentSessionId);

        await page.click('[data-testid="new-session"]');
        await page.waitForFunction(() => window.sessionwire.getState().messages.length === 0);
        await send(page, "another session");
        await waitForReply(page, "echo: another session");
        const second = await page.evaluate(() => window.sessionwire.getState().currentSessionId);
        assert.notEqual(second, first);

        await page.click(`[data-session-id="${first}"]`);
        await page.waitForFunction((first) => window.sessionwire.getState().currentSessionId === first, first);
        // Still mid-turn when we came back (25 chunks, 100 ms apart).
        assert.equal(await page.evaluate(() => window.sessionwire.getState().running), true, "back before the turn ended");
        await waitForReply(page, echo);
        await page.waitForTimeout(300);
        await assertShown(page, [["user", long], ["assistant", echo]]);
        await assertStoredOnce(f.server, long, echo);
        f.assertCleanConsole();
      } finally {
        await f.close();
      }
    });

    test("reload mid-turn: the conversation comes back whole and finishes", async () => {
      const f = await fixture(app);
      try {
        const page = await f.open();
        await waitOpen(page);
        await send(page, "before the reload");
        await waitForReply(page, "echo: before the reload");
        const long = "/slow 20 reloaded in the middle of it";
        const echo = "echo: reloaded in the middle of it";
        await send(page, long);
        await waitMidTurn(page);
        await page.reload();
        await waitOpen(page);
        await waitForReply(page, echo);
        await page.waitForTimeout(300);
        await assertShown(page, [
          ["user", "before the reload"],
          ["assistant", "echo: before the reload"],
          ["user", long],
          ["assistant", echo],
        ]);
        await assertStoredOnce(f.server, long, echo);
        f.assertCleanConsole();
      } finally {
        await f.close();
      }
    });

    test("typed while the server is down, reloaded, server restarted on the same port and DB: delivered once", async () => {
      const f = await fixture(app);
      f.allowRefused = true;
      try {
        const page = await f.open();
        await waitOpen(page);
        await send(page, "before the outage");
        await waitForReply(page, "echo: before the outage");

        await f.kill();
        await page.waitForSelector('[data-testid="connection"][data-status="reconnecting"]', { timeout: 10_000 });
        const text = "typed while the server was down";
        await send(page, text);
        await page.waitForFunction((text) => window.sessionwire.getState().outbox.some((e) => e.text === text), text);
        // The outbox entry is written in an IndexedDB transaction of its own; one not yet
        // committed when the page goes away is aborted by the browser, so reload once it is in.
        await page.waitForFunction(savedOutbox, text, { timeout: 10_000, polling: 50 });
        await page.reload();
        // Restored from IndexedDB before any socket opens: the conversation and the pending message.
        // (Right after a reload the app may not have made its client yet.)
        await page.waitForFunction(
          (text) => {
            const s = window.sessionwire?.getState();
            return s !== undefined && s.outbox.length === 1 && s.messages.some((m) => m.role === "user" && m.text === text);
          },
          text,
          { timeout: 10_000 },
        );
        assert.notEqual(await page.getAttribute('[data-testid="connection"]', "data-status"), "open");

        await f.restart();
        await waitForReply(page, `echo: ${text}`, 45_000);
        await page.waitForTimeout(300);
        await assertShown(page, [
          ["user", "before the outage"],
          ["assistant", "echo: before the outage"],
          ["user", text],
          ["assistant", `echo: ${text}`],
        ]);
        await assertStoredOnce(f.server, text, `echo: ${text}`);
        assert.ok(page.allowedHits > 0, "the refused connections were seen (and only those were allowed)");
        f.assertCleanConsole();
      } finally {
        await f.close();
      }
    });

    test("two tabs come back at once with a message typed offline in one: delivered once", async () => {
      const f = await fixture(app);
      f.allowRefused = true;
      try {
        const a = await f.open();
        await waitOpen(a);
        await send(a, "hello from tab A");
        await waitForReply(a, "echo: hello from tab A");
        const sessionId = await a.evaluate(() => window.sessionwire.getState().currentSessionId);
        const b = await f.open();
        await waitOpen(b);
        await b.waitForFunction((id) => window.sessionwire.getState().currentSessionId === id, sessionId);
        await waitForReply(b, "echo: hello from tab A");

        await f.kill();
        for (const page of [a, b]) await page.waitForSelector('[data-testid="connection"][data-status="reconnecting"]', { timeout: 10_000 });
        const text = "typed offline in tab A";
        await send(a, text);
        await a.waitForFunction((text) => window.sessionwire.getState().outbox.some((e) => e.text === text), text);
        // Tab B reloads while the server is down: it reads tab A's outbox from IndexedDB, so both
        // tabs hold the message with the same clientMsgId when the server comes back.
        await a.waitForTimeout(300);
        await b.reload();
        await b.waitForFunction((text) => window.sessionwire?.getState().outbox.some((e) => e.text === text) === true, text, { timeout: 10_000 });
        const ids = await Promise.all([a, b].map((p) => p.evaluate(() => window.sessionwire.getState().outbox.map((e) => e.clientMsgId))));
        assert.deepEqual(ids[0], ids[1], "both tabs hold the same clientMsgId");

        await f.restart();
        await Promise.all([a, b].map((page) => waitForReply(page, `echo: ${text}`, 45_000)));
        await a.waitForTimeout(300);
        const expected = [
          ["user", "hello from tab A"],
          ["assistant", "echo: hello from tab A"],
          ["user", text],
          ["assistant", `echo: ${text}`],
        ];
        await assertShown(a, expected);
        await assertShown(b, expected);
        await assertStoredOnce(f.server, text, `echo: ${text}`);
        f.assertCleanConsole();
      } finally {
        await f.close();
      }
    });

    test("the bundler and its server printed no warning or error (checked last)", () => {
      const lines = app.output().split("\n").filter((line) => /warn|error|\(!\)|failed/i.test(line));
      assert.deepEqual(lines, []);
    });
  });
}
