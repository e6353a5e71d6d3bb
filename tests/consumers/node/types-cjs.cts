// The same types through `require` (the node/require entry: node.d.cts).
import sessionwire = require("sessionwire");
import react = require("sessionwire/react");
import type { ErrorCode, SessionwireClientState } from "sessionwire";

export async function check(): Promise<ErrorCode | null> {
  await sessionwire.default();
  const store = new sessionwire.ClientStore();
  const state: SessionwireClientState | null = null;
  console.log(state, typeof react.useSessionwire, store.getState().running);
  try {
    store.receive("{}");
  } catch (error) {
    if (error instanceof sessionwire.SessionwireError) return error.code;
  }
  return null;
}
