// Persistence in IndexedDB (PROTOCOL.md §8): the outbox, the current session and the sessions'
// views survive a reload or a closed tab.
//
// A view is saved as the server frames that made it (each applied event, and the latest
// `session_switched`), and restored by feeding them through the store again: the reducer that
// built the view builds it once more, so nothing here knows what a view looks like, and a saved
// view can never disagree with one built live. Saving is append-only (one small record per
// event, batched every FLUSH_MS and when the page is hidden); the outbox is saved at once on
// every change, so a message typed offline survives a reload right after it.
//
// Records are keyed by a scope (the server URL and the user) and are shared by every tab of the
// origin: two tabs write the same event under the same key, and each tab adds and deletes only
// the outbox entries it has seen, so one tab never drops what another typed.

const DB_NAME = "sessionwire";
const FLUSH_MS = 200;
// A session with more events than this is not saved (its log is deleted): after a reload the
// server replays it, which is what happens without persistence.
const MAX_EVENTS = 20000;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = tx.onabort = () => reject(tx.error);
  });
}

function openDb(idb) {
  const req = idb.open(DB_NAME, 1);
  req.onupgradeneeded = () => {
    const db = req.result;
    for (const name of ["events", "switched", "outbox", "current"]) db.createObjectStore(name);
  };
  return request(req);
}

/// The action that puts a saved outbox entry back: a send, an interrupt or a permission answer,
/// each with its original `clientMsgId`.
function outboxAction(entry) {
  const { clientMsgId, sessionId, text } = entry;
  if (entry.kind === "interrupt") return { type: "USER_INTERRUPT", clientMsgId, sessionId, text };
  if (entry.kind === "permission")
    return { type: "PERMISSION_RESPONSE", clientMsgId, sessionId, requestId: entry.requestId, optionId: entry.optionId };
  return { type: "USER_SEND", clientMsgId, sessionId, text };
}

export function openPersistence(idb, scope) {
  return new Persistence(idb, scope);
}

class Persistence {
  #scope;
  #db;
  #failed = false;
  #restoring = false;
  #ops = []; // [store, "put" | "delete" | "deleteRange", key, value]
  #timer = null;
  #counts = new Map(); // sessionId → events saved (MAX_EVENTS)
  #outbox = new Map(); // clientMsgId → the entry as last written by this tab
  #lastOutbox = null;
  #lastCurrent = undefined;
  #order = 0;

  constructor(idb, scope) {
    this.#scope = scope;
    this.#db = openDb(idb);
    this.#db.catch(() => (this.#failed = true));
    if (typeof addEventListener === "function") {
      addEventListener("pagehide", () => this.flush());
      addEventListener("visibilitychange", () => {
        if (globalThis.document?.visibilityState === "hidden") this.flush();
      });
    }
  }

  #range() {
    return IDBKeyRange.bound([this.#scope], [this.#scope, []]);
  }

  /// Applies what was saved to `store` (the outbox, then each view's frames); resolves to the
  /// saved current session (undefined when none was saved).
  async restore(store) {
    const db = await this.#db;
    const tx = db.transaction(["events", "switched", "outbox", "current"], "readonly");
    const range = this.#range();
    const [eventKeys, events, switched, outboxKeys, outbox, current] = await Promise.all([
      request(tx.objectStore("events").getAllKeys(range)),
      request(tx.objectStore("events").getAll(range)),
      request(tx.objectStore("switched").getAll(range)),
      request(tx.objectStore("outbox").getAllKeys(range)),
      request(tx.objectStore("outbox").getAll(range)),
      request(tx.objectStore("current").get(this.#scope)),
    ]);
    this.#restoring = true;
    try {
      // The outbox first: an echo among the events then matches its pending message.
      const entries = outbox.map((entry, i) => ({ ...entry, clientMsgId: outboxKeys[i][1] }));
      entries.sort((a, b) => a.order - b.order);
      for (const entry of entries) {
        this.#outbox.set(entry.clientMsgId, entry);
        this.#order = Math.max(this.#order, entry.order + 1);
        try {
          store.dispatch(outboxAction(entry));
        } catch (error) {
          // Saved by an older version of the package, perhaps (a permission answer without its
          // ids): skipped, and deleted when the outbox next changes, as it no longer holds it.
          console.error("sessionwire: skipped a saved outbox entry", error);
        }
      }
      for (const frame of switched) this.#replay(store, frame);
      for (let i = 0; i < events.length; i++) {
        const sessionId = eventKeys[i][1];
        this.#counts.set(sessionId, (this.#counts.get(sessionId) ?? 0) + 1);
        this.#replay(store, events[i]);
      }
      this.#lastOutbox = store.getState().outbox;
      this.#lastCurrent = current;
    } finally {
      this.#restoring = false;
    }
    return current;
  }

  #replay(store, frame) {
    try {
      store.receive(frame);
    } catch (error) {
      // Saved by an older version of the package, perhaps: the server replays what is missing.
      console.error("sessionwire: skipped a saved frame", error);
    }
  }

  /// A frame the store applied: events are logged by session and seq, `session_switched` kept.
  received(frame, actions) {
    if (this.#restoring || this.#failed || actions.length === 0) return;
    for (const action of actions) {
      const sessionId = action.sessionId;
      if (action.type === "SESSION_SWITCHED") {
        this.#ops.push(["switched", "put", [this.#scope, sessionId], frame]);
      } else if (action.type === "SESSION_VIEW_DROPPED") {
        this.#forget(sessionId);
      } else if (typeof action.seq === "number" && typeof sessionId === "string") {
        const count = (this.#counts.get(sessionId) ?? 0) + 1;
        this.#counts.set(sessionId, count);
        if (count > MAX_EVENTS) {
          if (count === MAX_EVENTS + 1) this.#forget(sessionId, count);
        } else {
          this.#ops.push(["events", "put", [this.#scope, sessionId, action.seq], frame]);
        }
        break; // one frame is one event, whatever number of actions it made
      }
    }
    this.#schedule();
  }

  #forget(sessionId, count = 0) {
    const range = IDBKeyRange.bound([this.#scope, sessionId], [this.#scope, sessionId, []]);
    this.#ops.push(["events", "deleteRange", range]);
    this.#ops.push(["switched", "delete", [this.#scope, sessionId]]);
    this.#counts.set(sessionId, count);
  }

  /// The store changed: the current session is written when it changed, outbox entries added
  /// or moved are written, and those gone deleted.
  changed(state) {
    if (this.#restoring || this.#failed) return;
    const current = state.currentSessionId ?? null;
    if (current !== this.#lastCurrent) {
      this.#lastCurrent = current;
      this.#ops.push(["current", "put", this.#scope, current]);
      this.flush();
    }
    if (state.outbox === this.#lastOutbox) return;
    this.#lastOutbox = state.outbox;
    const present = new Set();
    for (const entry of state.outbox) {
      present.add(entry.clientMsgId);
      const saved = this.#outbox.get(entry.clientMsgId);
      if (saved !== undefined && saved.sessionId === (entry.sessionId ?? null)) continue;
      const record = {
        sessionId: entry.sessionId ?? null,
        text: entry.text ?? null,
        kind: entry.kind,
        order: saved?.order ?? this.#order++,
      };
      if (entry.kind === "permission") {
        record.requestId = entry.requestId;
        record.optionId = entry.optionId;
      }
      this.#outbox.set(entry.clientMsgId, record);
      this.#ops.push(["outbox", "put", [this.#scope, entry.clientMsgId], record]);
    }
    for (const clientMsgId of [...this.#outbox.keys()]) {
      if (present.has(clientMsgId)) continue;
      this.#outbox.delete(clientMsgId);
      this.#ops.push(["outbox", "delete", [this.#scope, clientMsgId]]);
    }
    this.flush();
  }

  #schedule() {
    if (this.#timer === null && this.#ops.length > 0) this.#timer = setTimeout(() => this.flush(), FLUSH_MS);
  }

  /// Writes what is waiting, in one transaction.
  flush() {
    clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#ops.length === 0 || this.#failed) return;
    const ops = this.#ops.splice(0);
    this.#db
      .then((db) => {
        const tx = db.transaction(["events", "switched", "outbox", "current"], "readwrite");
        for (const [name, op, key, value] of ops) {
          const store = tx.objectStore(name);
          if (op === "put") store.put(value, key);
          else store.delete(key);
        }
        // Commit now rather than when the event loop comes back: a page can be gone by then.
        tx.commit?.();
        return done(tx);
      })
      .catch((error) => console.error("sessionwire: could not save the conversation", error));
  }
}
