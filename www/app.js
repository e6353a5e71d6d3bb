// The sessionwire demo: a chat UI over SessionwireClient (the npm package's web build, served
// at /pkg/). Everything the page shows comes from the client's state; the page never keeps a
// copy of its own, so what you see is exactly what the store holds (and what the package keeps
// in IndexedDB across reloads).
import init, { SessionwireClient } from "/pkg/sessionwire.js";

const $ = (id) => document.getElementById(id);
const LOG_LIMIT = 50;

await init();

const params = new URLSearchParams(location.search);
const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
const client = new SessionwireClient(wsUrl, { token: params.get("token") ?? undefined });
// Exposed for the end-to-end tests and for poking around in devtools.
window.sessionwire = client;

const actionLog = [];
let renderQueued = false;

client.subscribe((state, actions) => {
  for (const action of actions) {
    actionLog.push(action);
    if (actionLog.length > LOG_LIMIT) actionLog.shift();
    // Keep the session list fresh when sessions appear or change state.
    if (action.type === "SESSION_CREATED" || action.type === "SESSION_STATE_CHANGED" || action.type === "WELCOME") {
      client.listSessions();
    }
  }
  scheduleRender();
});

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render(client.getState());
  });
}

function render(state) {
  const connection = $("connection");
  connection.textContent = state.reconnect
    ? `reconnecting (attempt ${state.reconnect.attempt}, next in ${Math.max(0, Math.round((state.reconnect.nextRetryAt - Date.now()) / 1000))} s)`
    : state.connection;
  connection.title = state.reconnect?.lastError ?? "";
  connection.dataset.status = state.connection;

  renderSessions(state);

  const current = state.currentSessionId;
  const summary = current ? state.sessions[current] : undefined;
  $("session-title").textContent = current ? (summary?.title || "Untitled session") : "New conversation";
  const badge = $("session-state");
  badge.textContent = state.sessionState ?? "";
  badge.dataset.state = state.sessionState ?? "";
  const running = $("running");
  running.hidden = !state.running;
  running.dataset.running = String(state.running);
  for (const id of ["interrupt", "stop", "close"]) $(id).disabled = !current;

  renderMessages(state.messages);
  renderPlan(state.plan);
  renderPermissions(state);

  $("action-log").replaceChildren(
    ...actionLog.slice().reverse().map((action) => {
      const li = document.createElement("li");
      li.textContent = describe(action);
      li.title = JSON.stringify(action);
      return li;
    }),
  );
  const inspector = $("state");
  if (inspector.closest("details").open) inspector.textContent = JSON.stringify(state, null, 2);
}

function renderSessions(state) {
  const ids = Object.keys(state.sessions);
  $("sessions").replaceChildren(
    ...ids.map((id) => {
      const session = state.sessions[id];
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.dataset.sessionId = id;
      button.setAttribute("aria-current", String(id === state.currentSessionId));
      const title = document.createElement("span");
      title.className = "title";
      title.textContent = session.title || id.slice(0, 8);
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = session.state ?? "";
      badge.dataset.state = session.state ?? "";
      button.append(title, badge);
      if (session.running) {
        const dot = document.createElement("span");
        dot.className = "dot";
        dot.title = "running";
        button.append(dot);
      }
      button.addEventListener("click", () => {
        client.switchSession(id);
        document.body.classList.remove("show-sidebar");
      });
      li.append(button);
      return li;
    }),
  );
}

// The agent's plan as a checklist (the current session's latest `plan` event).
function renderPlan(plan) {
  const list = $("plan");
  list.hidden = !Array.isArray(plan) || plan.length === 0;
  list.replaceChildren(
    ...(Array.isArray(plan) ? plan : []).map((entry) => {
      const li = document.createElement("li");
      li.dataset.status = entry.status;
      li.textContent = `${entry.status === "completed" ? "☑" : entry.status === "in_progress" ? "◐" : "☐"} ${entry.content}`;
      return li;
    }),
  );
}

// The agent's permission requests that wait for the user (the current session's
// `pendingPermissions`): one card each, with what would change and a button per option. A card
// goes when its `permission_resolved` arrives, in every tab, whichever tab answered; until then
// an answer this tab sent (an outbox entry) shows as "answering…". The cards are only rebuilt
// when the requests or the answers in the outbox changed: the store keeps `pendingPermissions`
// the same object across unrelated frames, so a ping or a streamed chunk never redraws a button
// under the user's pointer.
let shownPermissions = null;
let shownAnswers = "";
function renderPermissions(state) {
  const answers = new Map();
  for (const entry of state.outbox) if (entry.kind === "permission") answers.set(entry.requestId, entry.optionId);
  const answersKey = JSON.stringify([...answers]);
  if (state.pendingPermissions === shownPermissions && answersKey === shownAnswers) return;
  shownPermissions = state.pendingPermissions;
  shownAnswers = answersKey;
  const section = $("permissions");
  section.hidden = state.pendingPermissions.length === 0;
  section.replaceChildren(
    ...state.pendingPermissions.map((request) => {
      const card = document.createElement("div");
      card.className = "permission";
      card.dataset.testid = "permission";
      card.dataset.requestId = request.requestId;
      card.setAttribute("role", "group");
      card.setAttribute("aria-label", `Permission: ${request.title}`);
      const title = document.createElement("div");
      title.className = "permission-title";
      title.textContent = `⚠ The agent asks: ${request.title}`;
      card.append(title, ...contentBlocks(request.content));
      const options = document.createElement("div");
      options.className = "permission-options";
      const answered = answers.get(request.requestId);
      for (const option of Array.isArray(request.options) ? request.options : []) {
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.testid = "permission-option";
        button.dataset.optionId = option.optionId;
        button.dataset.kind = option.kind;
        if (option.kind?.startsWith("allow")) button.className = "primary";
        button.textContent = option.name;
        button.disabled = answered !== undefined;
        button.addEventListener("click", () => client.respondPermission(request.requestId, option.optionId));
        options.append(button);
      }
      if (answered !== undefined) {
        const meta = document.createElement("span");
        meta.className = "meta";
        meta.textContent = "answering…";
        options.append(meta);
      }
      card.append(options);
      return card;
    }),
  );
}

// What a tool changes or shows (`content` of tool_update and permission_request): text, or a
// diff as -/+ lines under its path.
function contentBlocks(content) {
  return (Array.isArray(content) ? content : []).map((item) => {
    const pre = document.createElement("pre");
    pre.className = item.type === "diff" ? "block diff" : "block tool-output";
    pre.textContent = item.type === "diff"
      ? [`--- ${item.path}`, ...(item.oldText ?? "").split("\n").filter(Boolean).map((l) => `- ${l}`), ...(item.newText ?? "").split("\n").map((l) => `+ ${l}`)].join("\n")
      : item.text ?? "";
    return pre;
  });
}

function renderMessages(messages) {
  const list = $("messages");
  const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 40;
  list.replaceChildren(
    ...messages.map((message) => {
      const li = document.createElement("li");
      li.className = `message ${message.role}`;
      li.dataset.role = message.role;
      li.dataset.status = message.status;
      li.dataset.messageId = message.id;
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = message.text;
      li.append(text);
      for (const block of message.blocks) {
        if (block.type === "tool_use") {
          const tool = document.createElement("div");
          tool.className = "block tool";
          if (block.status) tool.dataset.status = block.status;
          const result = block.result === undefined ? "…" : JSON.stringify(block.result);
          const status = block.status ? ` [${block.status}${block.kind ? `, ${block.kind}` : ""}]` : "";
          tool.textContent = `⚙ ${block.title ?? block.toolName ?? "tool"}${status}(${JSON.stringify(block.input ?? {})}) → ${result}`;
          li.append(tool);
          li.append(...contentBlocks(block.content));
        } else if (block.type === "thinking") {
          const thinking = document.createElement("div");
          thinking.className = "block thinking";
          thinking.textContent = block.text;
          li.append(thinking);
        }
      }
      if (message.status !== "sent" && message.status !== "complete") {
        const meta = document.createElement("span");
        meta.className = "meta";
        meta.textContent = message.status;
        li.append(meta);
      }
      return li;
    }),
  );
  if (stick) list.scrollTop = list.scrollHeight;
}

function describe(action) {
  const { type, ...rest } = action;
  const details = Object.entries(rest)
    .filter(([key]) => key !== "sessionId")
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
  return `${type} ${details}`.trim();
}

// The send box is never blocked by a running flag: the server queues messages.
$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("input");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  client.send(text);
  input.focus();
});
$("input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
$("new-session").addEventListener("click", () => {
  client.switchSession(null);
  document.body.classList.remove("show-sidebar");
  $("input").focus();
});
$("interrupt").addEventListener("click", () => client.interrupt());
$("stop").addEventListener("click", () => client.stop());
$("close").addEventListener("click", () => client.closeSession());
$("toggle-sidebar").addEventListener("click", () => document.body.classList.toggle("show-sidebar"));
document.querySelector(".devtools details:last-child").addEventListener("toggle", scheduleRender);

render(client.getState());
await client.connect();
// The package restores the outbox, the current session and its conversation from IndexedDB
// itself (before the socket opens); `?session=` picks another one.
const named = params.get("session");
if (named) client.switchSession(named);
