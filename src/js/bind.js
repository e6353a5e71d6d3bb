// Methods usable unbound (PROTOCOL.md §8): `useSyncExternalStore(client.subscribe,
// client.getState)` passes them without their object. Each method of the class becomes a getter
// that binds it to the instance on first use and caches the bound function on the instance, so
// `store.getState === store.getState` and an unbound call reads the right `this`.
export function bindMethods(C) {
  const proto = C.prototype;
  for (const name of Object.getOwnPropertyNames(proto)) {
    const method = Object.getOwnPropertyDescriptor(proto, name).value;
    if (name === "constructor" || name === "free" || typeof method !== "function") continue;
    Object.defineProperty(proto, name, {
      configurable: true,
      get() {
        const bound = method.bind(this);
        Object.defineProperty(this, name, { value: bound });
        return bound;
      },
    });
  }
  return C;
}
