import { memo, useLayoutEffect, useState, type FormEvent } from "react";
import type { Message, SessionwireClient, SessionwireClientState } from "sessionwire";
import { useSessionwire } from "sessionwire/react";

// Module-level selectors: the same function on every render.
const selectMessages = (s: SessionwireClientState): Message[] => s.messages;
const selectRunning = (s: SessionwireClientState): boolean => s.running;
const selectConnection = (s: SessionwireClientState): SessionwireClientState["connection"] => s.connection;
const selectSessions = (s: SessionwireClientState): SessionwireClientState["sessions"] => s.sessions;
const selectCurrent = (s: SessionwireClientState): string | null => s.currentSessionId;
const selectSessionState = (s: SessionwireClientState): string => s.sessionState ?? "";

export function App({ client }: { client: SessionwireClient }) {
  const connection = useSessionwire(client, selectConnection);
  const running = useSessionwire(client, selectRunning);
  const sessionState = useSessionwire(client, selectSessionState);
  return (
    <main>
      <header>
        <span data-testid="connection" data-status={connection}>
          {connection}
        </span>{" "}
        <span data-testid="running" data-running={String(running)} hidden={!running}>
          running
        </span>{" "}
        <span data-testid="session-state">{sessionState}</span>
      </header>
      <SessionList client={client} />
      <MessageList client={client} />
      <Composer client={client} />
    </main>
  );
}

function SessionList({ client }: { client: SessionwireClient }) {
  const sessions = useSessionwire(client, selectSessions);
  const current = useSessionwire(client, selectCurrent);
  // Session ids are UUID v7: sorted by id is sorted by creation.
  const ids = Object.keys(sessions).sort();
  return (
    <nav>
      <button type="button" data-testid="new-session" onClick={() => client.switchSession(null)}>
        New session
      </button>
      <ul data-testid="sessions">
        {ids.map((id) => (
          <li key={id}>
            <button
              type="button"
              data-session-id={id}
              aria-current={id === current ? "true" : undefined}
              onClick={() => client.switchSession(id)}
            >
              {sessions[id]?.title ?? id}
            </button>
          </li>
        ))}
      </ul>
    </nav>
  );
}

function MessageList({ client }: { client: SessionwireClient }) {
  const messages = useSessionwire(client, selectMessages);
  return (
    <ul data-testid="messages">
      {messages.map((message) => (
        <MessageRow key={message.id} message={message} />
      ))}
    </ul>
  );
}

const MessageRow = memo(function MessageRow({ message }: { message: Message }) {
  useLayoutEffect(() => {
    window.rowCommits[message.id] = (window.rowCommits[message.id] ?? 0) + 1;
  });
  return (
    <li data-role={message.role} data-status={message.status} data-message-id={message.id}>
      <b>{message.role}</b> <span className="text">{message.text}</span>
    </li>
  );
});

function Composer({ client }: { client: SessionwireClient }) {
  const [text, setText] = useState("");
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (text.trim() === "") return;
    client.send(text);
    setText("");
  };
  return (
    <form data-testid="composer" onSubmit={submit}>
      <input data-testid="input" value={text} onChange={(event) => setText(event.target.value)} />
      <button type="submit" data-testid="send">
        Send
      </button>
    </form>
  );
}
