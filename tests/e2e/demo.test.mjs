// End-to-end tests of the demo page in Debian's Chromium, each against its own server on port 0
// with a fresh database. Run by scripts/test-e2e.sh (node --test).
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  badgeHistory, freshDb, launchBrowser, messages, recordBadge, openDemo, running, screenshot, screenshotDir, send, startServer, state, stopServer, waitForState,
} from "./harness.mjs";

let browser;
before(async () => {
  browser = await launchBrowser();
  console.log(`screenshots: ${screenshotDir}`);
});
after(async () => {
  await browser?.close();
});

/**
 * Waits until the page shows (in the DOM, as a person sees it) an assistant message with exactly
 * `text` and `status`, and no running badge; the store must agree.
 */
function waitForReply(page, text, status = "complete") {
  return waitForState(page, ([text, status]) => {
    const shown = [...document.querySelectorAll('[data-testid="messages"] > li[data-role="assistant"]')].some(
      (li) => li.querySelector(".text").textContent === text && li.dataset.status === status,
    );
    const badge = document.querySelector('[data-testid="running"]');
    const s = window.sessionwire.getState();
    return shown && badge.hidden && !s.running && s.messages.some((m) => m.text === text && m.status === status);
  }, [text, status], 20_000);
}

function count(list, role, text) {
  return list.filter((m) => m.role === role && m.text === text).length;
}

describe("demo page", () => {
  test("create a session, send, see the echo stream in and the running badge go on then off", async () => {
    const server = await startServer({ db: freshDb(), extraArgs: ["--echo-delay-ms", "40"] });
    try {
      const page = await openDemo(browser, server.url);
      assert.equal(await running(page), false);
      await recordBadge(page);
      await send(page, "hello there");
      await waitForReply(page, "echo: hello there");
      await page.waitForSelector('[data-testid="running"][data-running="false"]', { state: "hidden" });
      assert.deepEqual(await badgeHistory(page), ["false", "true", "false"], "the badge went on, then off");
      const list = await messages(page);
      assert.deepEqual(list.map((m) => [m.role, m.text]), [["user", "hello there"], ["assistant", "echo: hello there"]]);
      assert.equal((await page.textContent('[data-testid="session-state"]')).trim(), "ACTIVE");
      assert.deepEqual(page.errors, []);
      await screenshot(page, "1-create-send-echo");
    } finally {
      await stopServer(server);
    }
  });

  test("the double-message bug: switch away from a running session and back, then send once", async () => {
    const server = await startServer({ db: freshDb() });
    try {
      const page = await openDemo(browser, server.url);
      await send(page, "/slow 30 the long answer keeps streaming");
      await waitForState(page, () => window.sessionwire.getState().messages.some((m) => m.role === "assistant" && m.text.length > 0));
      const first = (await state(page)).currentSessionId;
      assert.ok(first);

      await page.click('[data-testid="new-session"]');
      await send(page, "another session");
      await waitForReply(page, "echo: another session");
      const second = (await state(page)).currentSessionId;
      assert.notEqual(second, first);

      await page.click(`[data-session-id="${first}"]`);
      await page.waitForSelector('[data-testid="running"][data-running="true"]', { timeout: 5_000 });
      const before = (await state(page)).messages.find((m) => m.role === "assistant").text.length;
      await waitForState(page, (before) => {
        const reply = window.sessionwire.getState().messages.find((m) => m.role === "assistant");
        return reply.text.length > before;
      }, before);

      await send(page, "first message after switching back");
      await waitForReply(page, "echo: first message after switching back");
      const list = await messages(page);
      assert.equal(count(list, "user", "first message after switching back"), 1);
      assert.equal(count(list, "assistant", "echo: first message after switching back"), 1);
      assert.equal(count(list, "assistant", "echo: the long answer keeps streaming"), 1);
      assert.deepEqual(list.map((m) => m.role), ["user", "assistant", "user", "assistant"]);
      assert.equal(await running(page), false);
      await screenshot(page, "2-double-message-bug");
    } finally {
      await stopServer(server);
    }
  });

  test("reload in the middle of a turn: the conversation comes back whole and the turn finishes", async () => {
    const server = await startServer({ db: freshDb() });
    try {
      const page = await openDemo(browser, server.url);
      await send(page, "/slow 20 reload me in the middle of this");
      await waitForState(page, () => window.sessionwire.getState().messages.some((m) => m.role === "assistant" && m.text.length > 3));
      await page.reload();
      await page.waitForSelector('[data-testid="connection"][data-status="open"]');
      await waitForReply(page, "echo: reload me in the middle of this");
      const list = await messages(page);
      assert.deepEqual(list.map((m) => [m.role, m.text]), [
        ["user", "/slow 20 reload me in the middle of this"],
        ["assistant", "echo: reload me in the middle of this"],
      ]);
      await screenshot(page, "3-reload-mid-turn");
    } finally {
      await stopServer(server);
    }
  });

  test("SIGKILL the server mid-turn, type while it is down, restart it: delivered once, badge right", async () => {
    const db = freshDb();
    let server = await startServer({ db });
    try {
      const page = await openDemo(browser, server.url);
      await send(page, "/slow 40 this turn dies with the server");
      await waitForState(page, () => window.sessionwire.getState().running);
      await stopServer(server, "SIGKILL");
      await page.waitForSelector('[data-testid="connection"]:not([data-status="open"])', { timeout: 15_000 });
      await send(page, "typed while the server was down");
      // It shows at once, as pending, while the server is down.
      await waitForState(page, () => {
        const last = [...document.querySelectorAll('[data-testid="messages"] > li')].at(-1);
        return last?.dataset.role === "user" && last.dataset.status === "pending";
      });
      const pending = await messages(page);
      assert.deepEqual(pending.at(-1), { role: "user", status: "pending", text: "typed while the server was down" });
      assert.equal((await state(page)).outbox.length, 1);

      server = await startServer({ db, listen: server.address });
      await page.waitForSelector('[data-testid="connection"][data-status="open"]', { timeout: 30_000 });
      await waitForReply(page, "echo: typed while the server was down");
      const list = await messages(page);
      assert.equal(count(list, "user", "typed while the server was down"), 1);
      assert.equal(count(list, "assistant", "echo: typed while the server was down"), 1);
      assert.equal(list.find((m) => m.text === "typed while the server was down").status, "sent");
      // The turn cut by the crash is closed, not left spinning.
      assert.notEqual(list.find((m) => m.role === "assistant").status, "streaming");
      assert.equal(await running(page), false);
      assert.deepEqual((await state(page)).outbox, []);
      await screenshot(page, "4-server-killed-and-restarted");
    } finally {
      await stopServer(server);
    }
  });

  test("interrupt a slow turn", async () => {
    const server = await startServer({ db: freshDb() });
    try {
      const page = await openDemo(browser, server.url);
      const text = "an answer long enough to be cut short by the interrupt button";
      await send(page, `/slow 40 ${text}`);
      await waitForState(page, () => window.sessionwire.getState().messages.some((m) => m.role === "assistant" && m.text.length > 5));
      await page.click('[data-testid="interrupt"]');
      await waitForState(page, () => {
        const s = window.sessionwire.getState();
        return !s.running && s.messages.some((m) => m.role === "assistant" && m.status === "interrupted");
      });
      const reply = (await state(page)).messages.find((m) => m.role === "assistant");
      assert.ok(reply.text.length < `echo: ${text}`.length, `cut short: ${reply.text}`);
      assert.ok(`echo: ${text}`.startsWith(reply.text));
      assert.equal(await running(page), false);
      await screenshot(page, "5-interrupt");
    } finally {
      await stopServer(server);
    }
  });

  test("the agent's plan shows as a checklist, and comes back after a reload", async () => {
    const server = await startServer({ db: freshDb() });
    try {
      const page = await openDemo(browser, server.url);
      await send(page, "/plan");
      await waitForReply(page, "echo: /plan");
      const items = () => page.$$eval('[data-testid="plan"] li', (lis) => lis.map((li) => [li.dataset.status, li.textContent]));
      const done = [
        ["completed", "☑ Read the code"],
        ["completed", "☑ Write the fix"],
        ["completed", "☑ Run the tests"],
      ];
      assert.deepEqual(await items(), done);
      assert.equal(await page.$eval('[data-testid="plan"]', (el) => el.hidden), false);
      await page.reload();
      await page.waitForSelector('[data-testid="connection"][data-status="open"]');
      await waitForState(page, () => Array.isArray(window.sessionwire.getState().plan));
      assert.deepEqual(await items(), done);
      assert.deepEqual(page.errors, []);
      await screenshot(page, "6-plan");
    } finally {
      await stopServer(server);
    }
  });

  test("a real ACP agent process (the fake one): its tool call shows with its status and output", async () => {
    const agent = path.join(import.meta.dirname, "../../target/debug/sessionwire-fake-acp-agent");
    const server = await startServer({ db: freshDb(), extraArgs: ["--agent", "acp", "--agent-cmd", agent] });
    try {
      const page = await openDemo(browser, server.url);
      await send(page, "/tool");
      await waitForReply(page, "read it");
      const tool = await page.$eval('[data-testid="messages"] .block.tool', (el) => [el.dataset.status, el.textContent]);
      assert.equal(tool[0], "completed");
      assert.ok(tool[1].startsWith("⚙ Read /fake/README.md [completed, read]"), tool[1]);
      const output = await page.$eval('[data-testid="messages"] .block.tool-output', (el) => el.textContent);
      assert.equal(output, "# fake README");
      assert.deepEqual(page.errors, []);
      await screenshot(page, "7-acp-tool");
    } finally {
      await stopServer(server);
    }
  });

  test("two tabs on one session see the same conversation", async () => {
    const server = await startServer({ db: freshDb() });
    try {
      const one = await openDemo(browser, server.url);
      await send(one, "hello from tab one");
      await waitForReply(one, "echo: hello from tab one");
      const sessionId = (await state(one)).currentSessionId;

      const two = await openDemo(browser, `${server.url}/?session=${sessionId}`);
      await waitForReply(two, "echo: hello from tab one");
      await send(two, "/slow 10 and from tab two");
      await waitForReply(two, "echo: and from tab two");
      await waitForReply(one, "echo: and from tab two");
      const listOne = await messages(one);
      const listTwo = await messages(two);
      assert.deepEqual(listOne.map((m) => [m.role, m.text]), listTwo.map((m) => [m.role, m.text]));
      assert.equal(listOne.length, 4);
      await screenshot(one, "6-two-tabs-one");
      await screenshot(two, "6-two-tabs-two");
    } finally {
      await stopServer(server);
    }
  });

  test("a permission card in two tabs: answered in one, gone in both, answered once", async () => {
    const server = await startServer({ db: freshDb() });
    // The cards a page shows, as a person sees them (read from the DOM), and what the store holds.
    const cards = (page) =>
      page.evaluate(() => ({
        shown: [...document.querySelectorAll('[data-testid="permission"]')].map((card) => ({
          requestId: card.dataset.requestId,
          title: card.querySelector(".permission-title").textContent,
          diff: [...card.querySelectorAll(".block.diff")].map((pre) => pre.textContent),
          options: [...card.querySelectorAll('[data-testid="permission-option"]')].map((b) => [b.dataset.optionId, b.textContent, b.disabled]),
        })),
        pending: window.sessionwire.getState().pendingPermissions.map((p) => p.requestId),
      }));
    // Waits for the card of the store's one pending request to be on screen.
    const cardShown = (page) =>
      waitForState(page, () => {
        const pending = window.sessionwire.getState().pendingPermissions;
        const card = document.querySelector('[data-testid="permission"]');
        return pending.length === 1 && card !== null && card.dataset.requestId === pending[0].requestId && card.querySelector(".block.diff") !== null;
      }, undefined, 20_000);
    // Waits until no card shows and the store holds no request.
    const cardsGone = (page) =>
      waitForState(page, () =>
        document.querySelectorAll('[data-testid="permission"]').length === 0 &&
        document.querySelector('[data-testid="permissions"]').hidden &&
        window.sessionwire.getState().pendingPermissions.length === 0, undefined, 20_000);
    try {
      const one = await openDemo(browser, server.url);
      await send(one, "/perm make it so");
      await cardShown(one);
      const sessionId = (await state(one)).currentSessionId;
      const two = await openDemo(browser, `${server.url}/?session=${sessionId}`);
      await cardShown(two);

      const expected = {
        title: "⚠ The agent asks: Edit notes.txt",
        diff: ["--- notes.txt\n+ make it so"],
        options: [["allow", "Allow", false], ["reject", "Reject", false]],
      };
      const seenOne = await cards(one);
      const seenTwo = await cards(two);
      for (const seen of [seenOne, seenTwo]) {
        assert.equal(seen.shown.length, 1);
        const { requestId, ...card } = seen.shown[0];
        assert.deepEqual(card, expected);
        assert.deepEqual(seen.pending, [requestId]);
      }
      assert.equal(seenOne.shown[0].requestId, seenTwo.shown[0].requestId, "the same request in both tabs");
      assert.equal(await running(one), true, "the turn waits for the answer");
      await screenshot(one, "8-permission-card");

      // A button of tab two's card, held to show that it is gone once tab one has answered.
      const lateButton = await two.$('[data-testid="permission"] [data-testid="permission-option"][data-option-id="reject"]');
      await one.click('[data-testid="permission"] [data-testid="permission-option"][data-option-id="allow"]');
      await cardsGone(one);
      await cardsGone(two);
      await waitForReply(one, "echo: make it so");
      await waitForReply(two, "echo: make it so");

      // Answered once: no card (nor button) is left to click in either tab, and the one reply.
      assert.equal(await lateButton.evaluate((button) => button.isConnected), false, "tab two's card was removed");
      for (const page of [one, two]) {
        assert.equal(await page.locator('[data-testid="permission-option"]').count(), 0);
        const list = await messages(page);
        assert.equal(count(list, "assistant", "echo: make it so"), 1);
        assert.equal(count(list, "user", "/perm make it so"), 1);
        const tool = await page.$eval('[data-testid="messages"] .block.tool', (el) => el.dataset.status);
        assert.equal(tool, "completed");
        const s = await state(page);
        assert.deepEqual(s.outbox, []);
        assert.deepEqual(s.errors, []);
        assert.deepEqual(page.errors, []);
      }
      await screenshot(one, "8-permission-answered-one");
      await screenshot(two, "8-permission-answered-two");
    } finally {
      await stopServer(server);
    }
  });

  test("a permission answer made offline is kept in IndexedDB and restored by a reload, ids and all", async () => {
    const server = await startServer({ db: freshDb() });
    // A second client in the page, on a server that is not there: its answer waits in the outbox.
    const nowhere = "ws://127.0.0.1:9/ws";
    try {
      const page = await openDemo(browser, server.url);
      const answered = await page.evaluate(async (url) => {
        const { SessionwireClient } = await import("/pkg/sessionwire.js");
        const client = new SessionwireClient(url);
        client.switchSession("s-offline");
        client.respondPermission("r-offline", "allow");
        const entry = client.getState().outbox.at(-1);
        client.close();
        return entry;
      }, nowhere);
      assert.equal(answered.kind, "permission");
      // Saved once IndexedDB holds it (the package writes the outbox at once, asynchronously).
      await page.waitForFunction(() => new Promise((resolve) => {
        const open = indexedDB.open("sessionwire");
        open.onerror = () => resolve(false);
        open.onsuccess = () => {
          const all = open.result.transaction("outbox").objectStore("outbox").getAll();
          all.onerror = () => resolve(false);
          all.onsuccess = () => {
            open.result.close();
            resolve(all.result.some((r) => r.kind === "permission" && r.requestId === "r-offline" && r.optionId === "allow"));
          };
        };
      }), null, { timeout: 15_000, polling: 100 });

      await page.reload();
      await page.waitForSelector('[data-testid="connection"][data-status="open"]', { timeout: 15_000 });
      const restored = await page.evaluate(async (url) => {
        const { SessionwireClient } = await import("/pkg/sessionwire.js");
        const client = new SessionwireClient(url);
        const deadline = Date.now() + 10_000;
        while (client.getState().outbox.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        const state = client.getState();
        client.close();
        return { outbox: state.outbox, currentSessionId: state.currentSessionId };
      }, nowhere);
      assert.deepEqual(restored.outbox, [answered]);
      assert.equal(restored.currentSessionId, "s-offline");
      assert.deepEqual(page.errors, []);
    } finally {
      await stopServer(server);
    }
  });

  test("phone width: the page stays usable", async () => {
    const server = await startServer({ db: freshDb() });
    try {
      const page = await openDemo(browser, server.url, { viewport: { width: 390, height: 800 } });
      await send(page, "small screen");
      await waitForReply(page, "echo: small screen");
      const box = await page.locator('[data-testid="send"]').boundingBox();
      assert.ok(box.x + box.width <= 390, "the send button fits the screen");
      await screenshot(page, "7-phone");
    } finally {
      await stopServer(server);
    }
  });
});
