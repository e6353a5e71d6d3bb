// The package's types under Node's own resolution (module "nodenext": the node/import entry).
import init, { ClientStore, SessionwireClient, SessionwireError } from "sessionwire";
import type { ClientFrame, ErrorCode, ServerFrame, SessionwireClientState } from "sessionwire";
import { useSessionwire } from "sessionwire/react";
import WebSocket from "ws";

export async function check(url: string): Promise<SessionwireClientState> {
  await init();
  const client = new SessionwireClient(url, { WebSocket });
  const frame: ClientFrame = { type: "ping", nonce: "1" };
  let parsed: ServerFrame | null = null;
  try {
    new ClientStore().receive(JSON.stringify(frame));
  } catch (error) {
    if (error instanceof SessionwireError) {
      const code: ErrorCode = error.code;
      console.log(code);
    }
  }
  parsed = null;
  console.log(parsed, typeof useSessionwire);
  return client.getState();
}
