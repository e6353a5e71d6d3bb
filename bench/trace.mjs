// A streamed trace like a busy agent session produces: mostly `block_delta` frames, as the
// server sends them (one JSON text per frame). Deterministic.
export function makeTrace(frameCount = 100_000, sessions = 4) {
  const frames = [
    JSON.stringify({ type: "welcome", protocol: 1, connectionId: "conn-1", epoch: "epoch-1", server: { name: "sessionwire", version: "0.1.0" } }),
  ];
  const seq = new Map();
  const ts0 = 1_760_000_000_000;
  const next = (sessionId) => {
    const n = (seq.get(sessionId) ?? 0) + 1;
    seq.set(sessionId, n);
    return n;
  };
  const event = (sessionId, type, fields) => {
    const s = next(sessionId);
    // Keys in sessionwire-server's order (its events' envelope first, then the tagged kind).
    frames.push(JSON.stringify({ sessionId, seq: s, ts: ts0 + s, type, ...fields }));
  };
  const words = "the quick brown fox jumps over the lazy dog while the agent keeps streaming tokens".split(" ");
  let turn = 0;
  while (frames.length < frameCount) {
    const sessionId = `0193a2b4-7c1d-7e2f-9a3b-00000000000${turn % sessions}`;
    const turnId = `turn-${turn}`;
    const messageId = `msg-${turn}`;
    event(sessionId, "user_message", { messageId: `c-${turn}`, text: `question number ${turn}` });
    event(sessionId, "turn_start", { turnId });
    event(sessionId, "message_start", { messageId });
    event(sessionId, "block_start", { messageId, blockId: "b0", blockType: "text" });
    for (let i = 0; i < 200 && frames.length < frameCount - 4; i++) {
      event(sessionId, "block_delta", { messageId, blockId: "b0", delta: `${words[i % words.length]} ` });
    }
    event(sessionId, "block_end", { messageId, blockId: "b0" });
    event(sessionId, "message_end", { messageId });
    event(sessionId, "turn_end", { turnId, reason: "completed" });
    turn++;
  }
  return frames.slice(0, frameCount);
}
