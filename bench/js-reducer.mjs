// The baseline: the reducer a frontend team would write by hand for the same protocol, in plain
// JavaScript. JSON.parse each frame, drop duplicate seqs per session, flag gaps, keep messages
// per session, concatenate text deltas, track running. It returns an action object per frame,
// like the store does. Mutable updates (the fastest honest version; an immutable/Redux style
// one is slower).
const ACTION = {
  user_message: "USER_MESSAGE_RECEIVED", turn_start: "TURN_START", message_start: "MESSAGE_START",
  block_start: "BLOCK_START", block_delta: "BLOCK_DELTA", block_end: "BLOCK_END", tool_result: "TOOL_RESULT",
  message_end: "MESSAGE_END", turn_end: "TURN_END", session_state: "SESSION_STATE_CHANGED",
};

export class JsReducer {
  constructor() {
    this.state = { connection: "closed", epoch: null, currentSessionId: null, sessions: Object.create(null) };
  }

  view(sessionId) {
    let view = this.state.sessions[sessionId];
    if (!view) {
      view = { lastSeq: 0, running: false, state: null, messages: [], byId: new Map(), gap: null };
      this.state.sessions[sessionId] = view;
    }
    return view;
  }

  message(view, id, role) {
    let message = view.byId.get(id);
    if (!message) {
      message = { id, role, status: role === "user" ? "sent" : "streaming", text: "", blocks: [] };
      view.byId.set(id, message);
      view.messages.push(message);
    }
    return message;
  }

  receive(text) {
    const f = JSON.parse(text);
    if (typeof f !== "object" || f === null || typeof f.type !== "string") throw new Error("bad_frame");
    const kind = ACTION[f.type];
    if (kind === undefined) {
      if (f.type === "welcome") {
        this.state.connection = "open";
        this.state.epoch = f.epoch;
        return [{ type: "WELCOME", protocol: f.protocol, connectionId: f.connectionId, epoch: f.epoch }];
      }
      return [];
    }
    const view = this.view(f.sessionId);
    if (f.seq <= view.lastSeq) return [];
    if (f.seq > view.lastSeq + 1) {
      if (view.gap) return [];
      view.gap = { expectedSeq: view.lastSeq + 1, receivedSeq: f.seq };
      return [{ type: "GAP_DETECTED", sessionId: f.sessionId, ...view.gap }];
    }
    view.lastSeq = f.seq;
    switch (f.type) {
      case "user_message":
        this.message(view, f.messageId, "user").text = f.text;
        break;
      case "turn_start":
        view.running = true;
        break;
      case "message_start":
        this.message(view, f.messageId, "assistant");
        break;
      case "block_start":
        this.message(view, f.messageId, "assistant").blocks.push({ id: f.blockId, type: f.blockType, text: "", done: false });
        break;
      case "block_delta": {
        const message = this.message(view, f.messageId, "assistant");
        const block = message.blocks.findLast((b) => b.id === f.blockId);
        if (block) block.text += f.delta;
        message.text += f.delta;
        break;
      }
      case "block_end": {
        const block = this.message(view, f.messageId, "assistant").blocks.findLast((b) => b.id === f.blockId);
        if (block) block.done = true;
        break;
      }
      case "message_end":
        this.message(view, f.messageId, "assistant").status = "complete";
        break;
      case "turn_end":
        view.running = false;
        break;
      case "session_state":
        view.state = f.state;
        break;
    }
    const { type, ts, ...fields } = f;
    return [{ type: kind, ...fields }];
  }
}
