// sessionwire/react: the state of a client or store as React state (useSyncExternalStore).
import type { ClientState, ClientStore, SessionwireClient, SessionwireClientState } from "./sessionwire.js";

/** The client's state; the component renders again when it changes. */
export declare function useSessionwire(client: SessionwireClient): SessionwireClientState;
/** What `selector` picks of the client's state; renders again only when that changes (`Object.is`). */
export declare function useSessionwire<T>(client: SessionwireClient, selector: (state: SessionwireClientState) => T): T;
export declare function useSessionwire(client: ClientStore): ClientState;
export declare function useSessionwire<T>(client: ClientStore, selector: (state: ClientState) => T): T;
