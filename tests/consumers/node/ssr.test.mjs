// Server-side rendering: importing the package and sessionwire/react on a server never throws
// (only using it before init() does), and a component using useSessionwire renders to a string.
import assert from "node:assert/strict";
import { test } from "node:test";

test("import('sessionwire') and import('sessionwire/react') do not throw before init()", async () => {
  const sessionwire = await import("sessionwire");
  const react = await import("sessionwire/react");
  assert.equal(typeof sessionwire.default, "function");
  assert.equal(typeof react.useSessionwire, "function");
});

test("renderToString of a component using useSessionwire on an initialized client", async () => {
  const { default: init, SessionwireClient } = await import("sessionwire");
  const { useSessionwire } = await import("sessionwire/react");
  const { createElement } = await import("react");
  const { renderToString } = await import("react-dom/server");
  await init();
  // Never connected: SSR renders the initial state. No WebSocket is needed until connect().
  const client = new SessionwireClient("ws://127.0.0.1:9/ws");
  const Status = () => {
    const connection = useSessionwire(client, (s) => s.connection);
    const messages = useSessionwire(client, (s) => s.messages);
    return createElement("p", null, `${connection}: ${messages.length} messages`);
  };
  // React reports a misused hook (e.g. getServerSnapshot missing) through console.error.
  const reported = [];
  const { error, warn } = console;
  console.error = console.warn = (...args) => reported.push(args.join(" "));
  let html;
  try {
    html = renderToString(createElement(Status));
  } finally {
    Object.assign(console, { error, warn });
  }
  assert.equal(html, "<p>closed: 0 messages</p>");
  assert.deepEqual(reported, []);
  client.close();
});
