// The JavaScript half of how a frame crosses into Wasm and its actions come back out (the Rust
// half, and the reasons, are in transfer.rs). Per frame: one `encodeInto` (or a copy loop) writes
// the frame's UTF-8 straight into Wasm memory, and a streamed delta's action is built as a plain
// object from a description the Wasm side writes as numbers, its strings sliced from the frame
// string itself: no JSON text is made or parsed for it. Other actions come as one JSON text,
// with the patch of the state's change.

const encoder = new TextEncoder();
const decoder = new TextDecoder();
// How an ASCII frame gets into Wasm memory: a `charCodeAt` loop in browsers, `encodeInto` in
// Node. Measured on bench/browser.mjs and bench/ab.mjs (100k-frame trace): in Chromium the loop
// made `receive` 14% faster (Blink's `encodeInto` has a large fixed cost per call); in Node 20
// it made it 27% slower (Node's own `encodeInto` is cheap).
const copyAscii = typeof process === "undefined" || typeof process.versions?.node !== "string";

const NONE = [];

// What a predicted delta's text must not hold: a quote or a backslash (an escape), a control
// character, a surrogate (the fast path reads no escape, and UTF-8 has no lone surrogate).
const NOT_PLAIN = /["\\\x00-\x1f\ud800-\udfff]/;

// The first number of a description (transfer.rs): the actions (and the patch) as one JSON
// text, or a delta.
const JSON_ACTIONS = 0;

// A hot change (transfer.rs, `Encoder::json`; the core's `HotChange`) by its kind: the field
// it sets, and to what.
const CHANGES = [null, ["done", true], ["status", "complete"], ["running", true], ["running", false]];

// Deep equality of plain JSON values.
function equal(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) if (!equal(a[k], b[k])) return false;
  return true;
}

// A patch leaves out (`null`) the texts this snapshot holds already (the core's `Mirrored`: what
// the last patch carried plus the deltas appended here since): they are `old`'s, the message of
// the same id this snapshot has, and its block of the same id.
// Each kept text is flattened (`flat`): appended deltas made it a V8 rope of one piece per
// delta, which a text taken from JSON never was; kept for good, those pieces cost every later GC.
function fillTexts(next, old) {
  if (next.text === null) next.text = old ? flat(old.text) : "";
  const blocks = next.blocks;
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i];
    if (block.text !== null) continue;
    const same = old && (old.blocks[i]?.id === block.id ? old.blocks[i] : old.blocks.find((b) => b.id === block.id));
    block.text = same ? flat(same.text) : "";
  }
}

// The same string, flat: converting it to a number makes V8 flatten it first (as pino's flatstr).
function flat(text) {
  Number(text);
  return text;
}

// `next` (a message from a patch) as a change of `old`: `old` itself if nothing changed, else
// `next` with each block that did not change being `old`'s.
function share(old, next) {
  if (old === undefined || old.id !== next.id) return next;
  if (equal(old, next)) return old;
  next.blocks = next.blocks.map((b, i) => (equal(old.blocks[i], b) ? old.blocks[i] : b));
  return next;
}

// `next` (a `sessions` entry from a patch) replacing `old`: its plan and its pending permissions
// stay `old`'s objects when they did not change, so `getState().plan` and
// `getState().pendingPermissions` keep their identity across frames that change something else
// of the session (its lastSeq, running, state).
function keepEntry(old, next) {
  if (old === undefined) return next;
  if (equal(old.plan, next.plan)) next.plan = old.plan;
  if (equal(old.pendingPermissions, next.pendingPermissions)) next.pendingPermissions = old.pendingPermissions;
  return next;
}

// The state `getState()` returns, shared structurally (PROTOCOL.md §7): the store sends patches
// of what changed (crates/core/src/store/patch.rs says their form), and only the objects along
// a change's path are made anew; every other message, block and `sessions` entry is the same
// object as before, and the state is the same object until something changes.
export class StateMirror {
  #top;
  #sessions;
  #views;
  #pending;
  #listeners;
  #current;

  constructor() {
    this.#top = { connection: "closed", epoch: null, connectionId: null, currentSessionId: null, outbox: NONE, errors: NONE };
    this.#sessions = {};
    this.#views = new Map(); // sessionId ("" for the draft) -> messages
    this.#pending = []; // hot deltas not applied yet: action, message position, block position
    this.#listeners = []; // one array per subscription, so the same function may subscribe twice
    this.#compose();
  }

  // The store's subscribers live here, next to the state they are handed: a Rust closure for
  // the unsubscribe function and a Rust call per listener cost 0.5 KB of gzipped package.
  subscribe(listener) {
    const entry = [listener];
    // Copied on write, so a notification runs over the subscribers of its start.
    this.#listeners = [...this.#listeners, entry];
    return () => {
      this.#listeners = this.#listeners.filter((other) => other !== entry);
    };
  }

  listening() {
    return this.#listeners.length > 0;
  }

  // Calls every subscriber with the state and `actions`; a subscriber that throws is reported
  // on the console and does not stop the others (nor the store).
  notify(actions) {
    const listeners = this.#listeners;
    if (listeners.length === 0) return;
    const state = this.state();
    for (const [listener] of listeners) {
      try {
        listener(state, actions);
      } catch (error) {
        console.error("sessionwire: a subscriber threw", error);
      }
    }
  }

  state() {
    if (this.#pending.length > 0) this.#settle();
    return this.#current;
  }

  // Hot deltas wait until the state is read, so a burst of them read once costs one copy along
  // the path per block instead of one per delta.
  delta(action, m, b) {
    // Bounded: a store nobody reads settles every 1,000 deltas.
    if (this.#pending.push(action, m, b) >= 3000) this.#settle();
  }

  #settle() {
    const pending = this.#pending;
    this.#pending = [];
    for (let i = 0; i < pending.length; ) {
      const action = pending[i];
      const m = pending[i + 1];
      const b = pending[i + 2];
      let text = action.delta;
      let seq = action.seq;
      for (i += 3; i < pending.length && pending[i + 1] === m && pending[i + 2] === b && pending[i].sessionId === action.sessionId; i += 3) {
        text += pending[i].delta;
        seq = pending[i].seq;
      }
      this.#append(action.sessionId, seq, m, b, text);
    }
    this.#compose();
  }

  // A patch as JSON text (from a store call other than `receive`).
  patch(text) {
    this.apply(JSON.parse(text));
  }

  // A patch, parsed.
  apply(p) {
    if (this.#pending.length > 0) this.#settle();
    let changed = false;
    const top = this.#top;
    if (p.top) {
      const next = p.top;
      // What the store rewrote but did not change keeps its identity.
      if (equal(next.outbox, top.outbox)) next.outbox = top.outbox;
      if (equal(next.errors, top.errors)) next.errors = top.errors;
      if (!equal(next, top)) {
        this.#top = next;
        changed = true;
      }
    }
    const entries = p.sessions;
    let sessions = this.#sessions;
    if (p.all) {
      for (const id in entries) entries[id] = equal(entries[id], sessions[id]) ? sessions[id] : keepEntry(sessions[id], entries[id]);
      for (const id of this.#views.keys()) if (id !== "" && !(id in entries)) this.#views.delete(id);
      if (!equal(entries, sessions)) sessions = entries;
    } else {
      let added = false;
      for (const id in entries) {
        const next = entries[id];
        // A number: the entry's new `lastSeq`, nothing else of it changed.
        if (typeof next === "number") {
          if (sessions === this.#sessions) sessions = Object.assign({}, sessions);
          const entry = Object.assign({}, sessions[id]);
          entry.lastSeq = next;
          sessions[id] = entry;
          continue;
        }
        if (equal(next, sessions[id])) continue;
        if (sessions === this.#sessions) sessions = Object.assign({}, sessions);
        added ||= !(id in sessions);
        sessions[id] = keepEntry(sessions[id], next);
      }
      // Keys in the core's order (by id), as in the store's own snapshot: a new one is not last.
      if (added) sessions = Object.fromEntries(Object.entries(sessions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    changed ||= sessions !== this.#sessions;
    this.#sessions = sessions;
    // A message typed with no session moves from the draft to the session created for it.
    const draft = this.#views.get("") ?? NONE;
    // O(what changed): the messages array is copied once, and only when a message in it changed
    // (or its order did: `ids`, the one case that is O(messages), as is the copy itself).
    for (const [id, ids, messages] of p.views) {
      const old = this.#views.get(id) ?? NONE;
      let next = null;
      if (ids !== null) {
        const byId = new Map();
        for (const m of old) byId.set(m.id, m);
        next = ids.map((m) => byId.get(m));
      }
      for (const [at, m] of messages) {
        const current = (next ?? old)[at];
        const before = current?.id === m.id ? current : draft.find((d) => d.id === m.id);
        fillTexts(m, before);
        const shared = share(before ?? current, m);
        if (shared === current) continue;
        next ??= [...old];
        next[at] = shared;
      }
      if (next !== null && (ids === null || next.length !== old.length || next.some((m, i) => m !== old[i]))) {
        this.#views.set(id, next);
        changed = true;
      }
    }
    if (changed) this.#compose();
  }

  // A frame's hot change (the core's `HotChange`): `field` set to `value` in block `b` of
  // message `m` of the view of the session `action` is an event of, in that message (`b` -1),
  // or in its `sessions` entry (`m` -1).
  // The texts of the message, and of the block, are flattened (`flat`), as a patch's are: a
  // block that ends (or a message) keeps them for good, and kept as ropes of one piece per
  // delta they made every later GC slower (Node 20: a streamed delta 0.86 -> 1.37 µs).
  change(action, [field, value], m, b) {
    if (this.#pending.length > 0) this.#settle();
    const target = this.#copy(action.sessionId, action.seq, m, b);
    target[field] = value;
    if (m >= 0) flat(this.#views.get(action.sessionId)[m].text);
    if (b >= 0) flat(target.text);
    this.#compose();
  }

  // Streamed text appended to block `b` of message `m` (the core's append_delta: the message's
  // text grows when the block is its last text block, else it is the text blocks' texts in order).
  #append(id, seq, m, b, delta) {
    const block = this.#copy(id, seq, m, b);
    block.text += delta;
    if (block.type === "text") {
      const message = this.#views.get(id)[m];
      const blocks = message.blocks;
      let last = true;
      for (let i = b + 1; i < blocks.length; i++) if (blocks[i].type === "text") last = false;
      message.text = last ? message.text + delta : blocks.filter((x) => x.type === "text").map((x) => x.text).join("");
    }
  }

  // Copies the path to block `b` of message `m` of session `id`'s view (`b` -1: to the message;
  // `m` -1: to its `sessions` entry only) into the state, with the entry's `lastSeq` now `seq`;
  // returns the copy at its end, for the caller to change.
  // (Copies are made with Object.assign: V8 runs it ~3x faster than object spread here.)
  #copy(id, seq, m, b) {
    const sessions = Object.assign({}, this.#sessions);
    const entry = (sessions[id] = Object.assign({}, sessions[id]));
    entry.lastSeq = seq;
    this.#sessions = sessions;
    if (m < 0) return entry;
    // Spread, not `slice()`: for a view of 400 messages 0.14 µs against 0.21 in Node 20, 0.08
    // against 0.11 in Chromium 156 (one such copy per frame read is what grows with history).
    const messages = [...this.#views.get(id)];
    const message = (messages[m] = Object.assign({}, messages[m]));
    this.#views.set(id, messages);
    if (b < 0) return message;
    const blocks = (message.blocks = message.blocks.slice());
    return (blocks[b] = Object.assign({}, blocks[b]));
  }

  #compose() {
    const top = this.#top;
    const id = top.currentSessionId;
    const entry = id === null ? undefined : this.#sessions[id];
    this.#current = {
      connection: top.connection,
      epoch: top.epoch,
      connectionId: top.connectionId,
      currentSessionId: id,
      running: entry ? entry.running : false,
      sessionState: entry ? entry.state : null,
      lastSeq: entry ? entry.lastSeq : 0,
      messages: this.#views.get(entry ? id : "") ?? NONE,
      plan: entry ? entry.plan : null,
      pendingPermissions: entry ? entry.pendingPermissions : NONE,
      sessions: this.#sessions,
      outbox: top.outbox,
      errors: top.errors,
    };
  }
}

export class FrameTransfer {
  #memory;
  #bytes;
  #numbers;
  #input;
  #inputPtr;
  #inputCapacity;
  #expect;
  #taken;
  #heldPtr;
  #heldCapacity;
  #held;

  // `memory` is the module's WebAssembly.Memory; `mirror` is the store's StateMirror, which a
  // hot delta is applied to as it is built; [heldPtr, heldPtr + heldCapacity) is where the
  // texts of predicted deltas go, as UTF-8 (transfer.rs reads them from there).
  constructor(memory, mirror, heldPtr, heldCapacity) {
    this.mirror = mirror;
    this.#memory = memory;
    this.#bytes = null;
    this.#numbers = null;
    this.#input = null;
    this.#inputPtr = 0;
    this.#inputCapacity = 0;
    // The next delta the store predicted (see `predict`), how many were taken, how many bytes
    // their texts are.
    this.#expect = null;
    this.#taken = 0;
    this.#heldPtr = heldPtr;
    this.#heldCapacity = heldCapacity;
    this.#held = 0;
  }

  // The block's next delta, taken without Wasm when the store predicted it (transfer.rs,
  // `Store::predict_next`): a frame in the form of the delta the store just applied, with the
  // next seq, any ts, and a text with nothing to unescape. Its action goes to the snapshot; the
  // store hears of it (`stopPredicting`, `takeHeld`) first thing in its next call. Null for
  // any other frame, which then goes to Wasm.
  // Each part of the form is compared as a slice (`===`): V8's `startsWith` and `endsWith`
  // took ~0.3 µs for the 58 characters of the head, a slice and `===` 0.06 µs.
  predict(frame) {
    const e = this.#expect;
    if (e === null || typeof frame !== "string") return null;
    const head = e.head;
    if (frame.slice(0, head.length) !== head) return null;
    const seq = e.seq;
    const digits = "" + seq;
    let i = head.length;
    if (frame.slice(i, (i += digits.length)) !== digits || frame.slice(i, (i += e.ts.length)) !== e.ts) return null;
    const t = i;
    for (let c = frame.charCodeAt(i); c >= 48 && c <= 57; c = frame.charCodeAt(++i));
    // The ts: a JSON integer of 1 to 19 digits, no leading zero (the fast path's own rule).
    if (i === t || i - t > 19 || (i - t > 1 && frame.charCodeAt(t) === 48) || frame.slice(i, (i += e.mid.length)) !== e.mid) return null;
    const end = frame.length - e.tail.length;
    if (end < i || frame.slice(end) !== e.tail) return null;
    const delta = frame.slice(i, end);
    if (NOT_PLAIN.test(delta) || !this.#hold(delta)) return null;
    const a = e.action;
    const action = { type: "BLOCK_DELTA", sessionId: a.sessionId, seq, messageId: a.messageId, blockId: a.blockId, delta };
    e.seq = seq + 1;
    this.#taken++;
    this.mirror.delta(action, e.m, e.b);
    return action;
  }

  stopPredicting() {
    this.#expect = null;
    const taken = this.#taken;
    this.#taken = 0;
    return taken;
  }

  takeHeld() {
    const held = this.#held;
    this.#held = 0;
    return held;
  }

  // Writes `text` (no lone surrogate: `NOT_PLAIN`) as UTF-8 after the texts held; false, and
  // nothing written, when it might not fit (the frame then goes to Wasm, which takes them).
  // A loop, not `encodeInto`: a delta is a few characters, and Blink's `encodeInto` has a large
  // fixed cost per call (see `copyAscii`).
  #hold(text) {
    let at = this.#held;
    if (at + text.length * 3 > this.#heldCapacity) return false;
    this.#refresh();
    const bytes = this.#bytes;
    at += this.#heldPtr;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x80) bytes[at++] = c;
      else if (c < 0x800) {
        bytes[at++] = 0xc0 | (c >> 6);
        bytes[at++] = 0x80 | (c & 0x3f);
      } else {
        bytes[at++] = 0xe0 | (c >> 12);
        bytes[at++] = 0x80 | ((c >> 6) & 0x3f);
        bytes[at++] = 0x80 | (c & 0x3f);
      }
    }
    this.#held = at - this.#heldPtr;
    return true;
  }

  // Where frames are written: Wasm memory [ptr, ptr + capacity) (set again when it grew).
  setInput(ptr, capacity) {
    this.#inputPtr = ptr;
    this.#inputCapacity = capacity;
    this.#input = null;
  }

  // Views over Wasm memory, made again only when it grew: growing detaches the old buffer,
  // whose views then have length 0 (cheaper to test than reading `memory.buffer` every time).
  #refresh() {
    if (this.#bytes === null || this.#bytes.length === 0) {
      const buffer = this.#memory.buffer;
      this.#bytes = new Uint8Array(buffer);
      this.#numbers = new Float64Array(buffer);
      this.#input = null;
    }
  }

  // Writes `frame` as UTF-8 into the input buffer. Returns 2 × the byte length, plus 1 when
  // every character was ASCII (byte offsets are then string offsets); -1 when `frame` is not a
  // string; -2 - n when the buffer is too small and needs n bytes.
  write(frame) {
    if (typeof frame !== "string") return -1;
    this.#refresh();
    if (this.#input === null) this.#input = this.#bytes.subarray(this.#inputPtr, this.#inputPtr + this.#inputCapacity);
    const input = this.#input;
    const n = frame.length;
    // An ASCII frame (nearly all) is copied by this loop where that is faster (`copyAscii`).
    // No test per character: the codes are or-ed and tested once (a non-ASCII frame is then
    // written again by `encodeInto`); in Chromium that is a fifth faster than a `break` test.
    if (copyAscii && n <= input.length) {
      let all = 0;
      for (let i = 0; i < n; i++) {
        const c = frame.charCodeAt(i);
        all |= c;
        input[i] = c;
      }
      if (all <= 0x7f) return n * 2 + 1;
    }
    const { read, written } = encoder.encodeInto(frame, input);
    if (read < n) return -2 - n * 3;
    return written * 2 + (written === n ? 1 : 0);
  }

  // What `ClientStore.receive` returns for `frame` once Wasm applied it (src/js/store.js): its
  // actions, built from the description at `out`, which subscribers then hear of.
  finish(frame, out) {
    const actions = this.build(frame, out);
    if (actions.length > 0) this.mirror.notify(actions);
    return actions;
  }

  // The actions described at `out` (transfer.rs, `Encoder`): as one JSON text in Wasm memory,
  // or a streamed delta read in place, built as one literal (V8 gives it its final shape at
  // once, where adding its fields one by one went through a shape per field).
  build(frame, out) {
    this.#refresh();
    const numbers = this.#numbers;
    let p = out / 8;
    if (numbers[p] === JSON_ACTIONS) {
      if (numbers[p + 2] === 0) return [];
      // `[actions]`, or `[actions, patch]` when the state changed; then the hot change.
      const both = JSON.parse(this.#text(numbers[p + 1], numbers[p + 1] + numbers[p + 2]));
      if (both.length > 1) this.mirror.apply(both[1]);
      const kind = numbers[p + 3];
      if (kind > 0) this.mirror.change(both[0][0], CHANGES[kind], numbers[p + 4], numbers[p + 5]);
      return both[0];
    }
    const action = {
      type: "BLOCK_DELTA",
      sessionId: frame.slice(numbers[p + 1], numbers[p + 2]),
      seq: numbers[p + 3],
      messageId: frame.slice(numbers[p + 4], numbers[p + 5]),
      blockId: frame.slice(numbers[p + 6], numbers[p + 7]),
      delta: frame.slice(numbers[p + 8], numbers[p + 9]),
    };
    // Then the hot patch's message and block positions (-1: none), and the places of the
    // frame's seq and ts digits if the store predicts the next delta (-1: no).
    p += 10;
    const m = numbers[p];
    if (m >= 0) {
      const b = numbers[p + 1];
      this.mirror.delta(action, m, b);
      const s = numbers[p + 2];
      if (s >= 0) {
        const t = numbers[p + 4];
        // The frame's form around them: up to the seq, between seq and ts, from the ts to the
        // text, after the text.
        this.#expect = { head: frame.slice(0, s), ts: frame.slice(numbers[p + 3], t), mid: frame.slice(numbers[p + 5], numbers[p - 2]), tail: frame.slice(numbers[p - 1]), seq: action.seq + 1, action, m, b };
      }
    }
    return [action];
  }

  // Wasm memory's bytes [start, end), decoded.
  #text(start, end) {
    return decoder.decode(this.#bytes.subarray(start, end));
  }
}
