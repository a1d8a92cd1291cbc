// Keyboard shortcuts: single keys and g-prefixed pairs, ignored while typing in a field.
import { useEffect, useRef } from "react";

export type Shortcuts = Record<string, (event: KeyboardEvent) => void>;

export const CHEAT_SHEET: [string, string][] = [
  ["?", "this cheat sheet"],
  ["/", "search (runs list)"],
  ["j / k", "next / previous row or finding"],
  ["Enter", "open the selected row"],
  ["g o", "go to the overview"],
  ["g r", "go to runs"],
  ["g a", "go to agents"],
  ["g p", "go to performance analytics"],
  ["g c", "go to code review"],
  ["g l", "go to alerts"],
  ["g s", "go to configuration"],
  ["1 … 5", "range 15m, 1h, 24h, 7d, 30d (analytics)"],
  ["a / x", "accept / reject the selected finding (code review)"],
  ["n", "start a run (runs list)"],
  ["t", "next theme (dark, light, high contrast)"],
  ["Esc", "close a dialog, leave a field"],
];

function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  return (
    target.isContentEditable ||
    tag === "TEXTAREA" ||
    tag === "SELECT" ||
    (tag === "INPUT" && !["checkbox", "radio", "range", "button"].includes((target as HTMLInputElement).type))
  );
}

// One listener for every mounted set, with one pending prefix: a page's "a" must not fire
// as the second key of the app's "g a".
const mounted: { current: Shortcuts }[] = [];
let prefix: string | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;

function onKey(event: KeyboardEvent): void {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  if (typing(event.target)) return;
  const key = prefix ? `${prefix} ${event.key}` : event.key;
  const pending = prefix !== null;
  prefix = null;
  clearTimeout(timer);
  for (let i = mounted.length - 1; i >= 0; i--) {
    const handler = mounted[i]?.current[key];
    if (handler) {
      event.preventDefault();
      handler(event);
      return;
    }
  }
  if (!pending && event.key === "g" && mounted.some((m) => Object.keys(m.current).some((k) => k.startsWith("g ")))) {
    prefix = "g";
    timer = setTimeout(() => (prefix = null), 1500);
  }
}

/** Bind `shortcuts` ("j", "?", "g r"...) on the document while the component is mounted. */
export function useShortcuts(shortcuts: Shortcuts): void {
  const current = useRef(shortcuts);
  current.current = shortcuts;
  useEffect(() => {
    const entry = current;
    mounted.push(entry);
    if (mounted.length === 1) document.addEventListener("keydown", onKey);
    return () => {
      mounted.splice(mounted.indexOf(entry), 1);
      if (mounted.length === 0) {
        document.removeEventListener("keydown", onKey);
        clearTimeout(timer);
        prefix = null;
      }
    };
  }, []);
}
