// The shared consumer app (tests/consumers/README.md): installed as a user would install it, built
// by Vite 7, Vite 8 and webpack 5 with no sessionwire-specific configuration.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import init, { SessionwireClient } from "sessionwire";
import { App } from "./App";

declare global {
  interface Window {
    sessionwire: SessionwireClient;
    /** Commits per message id of the memo'd rows (tests check that unchanged rows stay put). */
    rowCommits: Record<string, number>;
  }
}

async function main(): Promise<void> {
  await init();
  const ws = new URLSearchParams(location.search).get("ws");
  if (ws === null) throw new Error("open this page with ?ws=ws://HOST:PORT/ws");
  const client = new SessionwireClient(ws);
  window.sessionwire = client;
  window.rowCommits = {};
  void client.connect().then(() => client.listSessions());
  const root = document.getElementById("root");
  if (root === null) throw new Error("no #root element");
  createRoot(root).render(
    <StrictMode>
      <App client={client} />
    </StrictMode>,
  );
}

void main();
