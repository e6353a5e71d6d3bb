// Makes docs/demo.png, the README's screenshot: two sessions, a tool call, and a reply still
// streaming, at a desktop size. Run with `node tests/e2e/readme-screenshot.mjs` after the
// server and the web package are built (scripts/test-e2e.sh builds both).
import path from "node:path";
import { freshDb, launchBrowser, openDemo, send, startServer, stopServer, waitForState } from "./harness.mjs";

const out = path.resolve(import.meta.dirname, "../../docs/demo.png");
const server = await startServer({ db: freshDb(), extraArgs: ["--echo-delay-ms", "30"] });
const browser = await launchBrowser();
try {
  const page = await openDemo(browser, server.url, { viewport: { width: 1100, height: 620 } });
  await send(page, "Summarize the release notes");
  await waitForState(page, () => !window.sessionwire.getState().running && window.sessionwire.getState().messages.length === 2);
  await page.click('[data-testid="new-session"]');
  await send(page, "/tool look up the release date");
  await waitForState(page, () => !window.sessionwire.getState().running && window.sessionwire.getState().messages.length === 2);
  await send(page, "/slow 40 Streaming keeps going while you switch sessions, reload, or lose the network.");
  await waitForState(page, () => {
    const reply = window.sessionwire.getState().messages.at(-1);
    return reply.role === "assistant" && reply.text.length > 40;
  });
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await stopServer(server);
}
