// The package's public types, as an app in strict mode uses them (tsc --noEmit).
import init, { ClientStore, SessionwireError, parseServerFrame, PROTOCOL_VERSION } from "sessionwire";
import type { ClientFrame, ErrorCode, ServerFrame, SessionwireClientState } from "sessionwire";
import { useSessionwire } from "sessionwire/react";

export async function typesCheck(): Promise<void> {
  await init();
  const protocol: 1 = PROTOCOL_VERSION;
  const hello: ClientFrame = { type: "hello", protocol };
  const frame: ServerFrame = parseServerFrame('{"type":"pong"}');
  if (frame.type === "welcome") console.log(frame.epoch);
  try {
    new ClientStore().receive("not json");
  } catch (error) {
    if (error instanceof SessionwireError) {
      const code: ErrorCode = error.code;
      const field: string | undefined = error.field;
      console.log(code, field, hello);
    }
  }
  const codes: ErrorCode[] = ["not_initialized", "no_current_session", "invalid_action", "invalid_argument", "closed", "bad_frame"];
  console.log(codes, typeof useSessionwire);
}

export function running(state: SessionwireClientState): boolean {
  const connection: "connecting" | "open" | "reconnecting" | "closed" = state.connection;
  return connection === "open" && state.running && state.messages.every((m) => typeof m.text === "string");
}
