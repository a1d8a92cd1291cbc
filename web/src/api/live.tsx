// How pages stay current. Today every live query polls (TanStack Query's refetchInterval).
// When the pool's subscription is available, a provider sets `push`, writes what it receives
// into the query cache (queryClient.setQueryData(queryKeys.run(id), view)) and polling stops:
// pages read the same queries either way.
import { createContext, useContext, type ReactNode } from "react";

export type LiveMode = { kind: "poll"; intervalMs: number } | { kind: "push" };

const LiveContext = createContext<LiveMode>({ kind: "poll", intervalMs: 1000 });

export function LiveProvider({ mode, children }: { mode: LiveMode; children: ReactNode }) {
  return <LiveContext.Provider value={mode}>{children}</LiveContext.Provider>;
}

/** The refetch interval of a query that is live while `active` (false: no polling). */
export function useRefetchInterval(active: boolean, slower = 1): number | false {
  const mode = useContext(LiveContext);
  return mode.kind === "poll" && active ? mode.intervalMs * slower : false;
}
