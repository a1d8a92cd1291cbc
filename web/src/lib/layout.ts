// The overview's widget order, kept per signed-in key in this browser's localStorage.
// Stored under the key's id (`acc_<id>_<secret>`), never the key itself; without a key
// (ACC_AUTH=off) under "anonymous".
import { getKey } from "./auth";

export const WIDGETS = ["kpis", "runs-chart", "health", "cost"] as const;
export type Widget = (typeof WIDGETS)[number];

/** The id part of an `acc_<id>_<secret>` key; "anonymous" without one. */
export function keyId(key: string | null = getKey()): string {
  const match = /^acc_([0-9a-f]+)_/.exec(key ?? "");
  return match?.[1] ?? "anonymous";
}

export function layoutStorage(key: string | null = getKey()): string {
  return `acc.overview.${keyId(key)}`;
}

/** The stored order: unknown names dropped, widgets added since put at the end. */
export function storedLayout(key: string | null = getKey()): Widget[] {
  let saved: unknown = null;
  try {
    saved = JSON.parse(localStorage.getItem(layoutStorage(key)) ?? "null");
  } catch {
    saved = null;
  }
  const known = Array.isArray(saved)
    ? saved.filter((w): w is Widget => (WIDGETS as readonly unknown[]).includes(w))
    : [];
  const order = [...new Set(known)];
  return [...order, ...WIDGETS.filter((w) => !order.includes(w))];
}

export function saveLayout(order: Widget[], key: string | null = getKey()): void {
  localStorage.setItem(layoutStorage(key), JSON.stringify(order));
}

/** `order` with the widget at `from` moved to `to`. */
export function moved<T>(order: T[], from: number, to: number): T[] {
  if (to < 0 || to >= order.length || from === to) return order;
  const next = [...order];
  const [item] = next.splice(from, 1);
  next.splice(to, 0, item as T);
  return next;
}
