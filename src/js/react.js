// sessionwire/react: `useSessionwire(client, selector?)` (PROTOCOL.md §8). The state is the same
// object until something changes and is shared structurally (§7), so `useSyncExternalStore`
// reads it as it is; a selector's result is kept for as long as the state and the selector are
// the same, so a selector that builds an object does not make React render in a loop.
import { useCallback, useRef, useSyncExternalStore } from "react";

const identity = (state) => state;

export function useSessionwire(client, selector) {
  const select = selector ?? identity;
  const last = useRef(null);
  const getSnapshot = useCallback(() => {
    const state = client.getState();
    const cached = last.current;
    if (cached !== null && cached.state === state && cached.select === select) return cached.value;
    const value = select(state);
    last.current = { state, select, value };
    return value;
  }, [client, select]);
  return useSyncExternalStore(client.subscribe, getSnapshot, getSnapshot);
}
