// The UI loop's baseline: the reducer a frontend team would write for a Redux or zustand store,
// in plain JavaScript. State is immutable: each frame makes new objects only along the path it
// changes (the state, the session, its messages array, the message, the block); everything else
// keeps its identity, so `getState()` is free and React's memo works. Same protocol subset as
// bench/js-reducer.mjs (seq dedupe and gaps per session, messages, text deltas, running).
const replaceAt = (array, index, value) => {
  const copy = array.slice();
  copy[index] = value;
  return copy;
};

export class JsImmutableReducer {
  constructor() {
    this.state = { connection: "closed", epoch: null, currentSessionId: null, sessions: {}, messages: [], running: false };
    this.index = new Map(); // sessionId -> Map(messageId -> position)
  }

  getState() {
    return this.state;
  }

  setView(sessionId, view) {
    const sessions = { ...this.state.sessions, [sessionId]: view };
    const current = this.state.currentSessionId === sessionId;
    this.state = current
      ? { ...this.state, sessions, messages: view.messages, running: view.running }
      : { ...this.state, sessions };
  }

  switchSession(sessionId) {
    const view = this.state.sessions[sessionId];
    this.state = { ...this.state, currentSessionId: sessionId, messages: view ? view.messages : [], running: view ? view.running : false };
  }

  receive(text) {
    const f = JSON.parse(text);
    if (typeof f !== "object" || f === null || typeof f.type !== "string") throw new Error("bad_frame");
    if (f.type === "welcome") {
      this.state = { ...this.state, connection: "open", epoch: f.epoch };
      return;
    }
    const old = this.state.sessions[f.sessionId] ?? { lastSeq: 0, running: false, state: null, messages: [], gap: null };
    if (f.seq <= old.lastSeq) return;
    if (f.seq > old.lastSeq + 1) {
      if (!old.gap) this.setView(f.sessionId, { ...old, gap: { expectedSeq: old.lastSeq + 1, receivedSeq: f.seq } });
      return;
    }
    let index = this.index.get(f.sessionId);
    if (!index) this.index.set(f.sessionId, (index = new Map()));
    let view = { ...old, lastSeq: f.seq };
    const withMessage = (id, role, change) => {
      let position = index.get(id);
      if (position === undefined) {
        position = view.messages.length;
        index.set(id, position);
        const message = { id, role, status: role === "user" ? "sent" : "streaming", text: "", blocks: [] };
        view.messages = [...view.messages, change(message)];
      } else {
        view.messages = replaceAt(view.messages, position, change(view.messages[position]));
      }
    };
    switch (f.type) {
      case "user_message":
        withMessage(f.messageId, "user", (m) => ({ ...m, text: f.text }));
        break;
      case "turn_start":
        view.running = true;
        break;
      case "message_start":
        withMessage(f.messageId, "assistant", (m) => m);
        break;
      case "block_start":
        withMessage(f.messageId, "assistant", (m) => ({ ...m, blocks: [...m.blocks, { id: f.blockId, type: f.blockType, text: "", done: false }] }));
        break;
      case "block_delta":
        withMessage(f.messageId, "assistant", (m) => {
          const at = m.blocks.findLastIndex((b) => b.id === f.blockId);
          const blocks = at < 0 ? m.blocks : replaceAt(m.blocks, at, { ...m.blocks[at], text: m.blocks[at].text + f.delta });
          return { ...m, blocks, text: m.text + f.delta };
        });
        break;
      case "block_end":
        withMessage(f.messageId, "assistant", (m) => {
          const at = m.blocks.findLastIndex((b) => b.id === f.blockId);
          return at < 0 ? m : { ...m, blocks: replaceAt(m.blocks, at, { ...m.blocks[at], done: true }) };
        });
        break;
      case "message_end":
        withMessage(f.messageId, "assistant", (m) => ({ ...m, status: "complete" }));
        break;
      case "turn_end":
        view.running = false;
        break;
      case "session_state":
        view.state = f.state;
        break;
    }
    this.setView(f.sessionId, view);
  }
}
