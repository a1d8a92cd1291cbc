// The API key the dashboard sends (X-API-Key), kept in this browser's localStorage.
// It is never served by the API: the person pastes it, or opens a link whose #key=
// fragment carries it (fragments never reach a server or its logs).

const STORAGE = "acc.apiKey";
const listeners = new Set<() => void>();

export function getKey(): string | null {
  return localStorage.getItem(STORAGE);
}

export function setKey(key: string | null): void {
  if (key) localStorage.setItem(STORAGE, key.trim());
  else localStorage.removeItem(STORAGE);
  listeners.forEach((listener) => listener());
}

export function onKeyChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Take a key from a `#key=acc_...` fragment, then drop the fragment from the address. */
export function adoptKeyFromFragment(location: Location, history: History): void {
  const match = /(?:^#|&)key=([^&]+)/.exec(location.hash);
  if (!match?.[1]) return;
  setKey(decodeURIComponent(match[1]));
  history.replaceState(history.state, "", location.pathname + location.search);
}
