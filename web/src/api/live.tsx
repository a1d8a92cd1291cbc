// How pages stay current. While the pool pushes run events (a subscriber connection, see
// pool.ts) the run queries do not poll: an event marks its run's queries stale and they are
// read again. Without a pool that answers, every live query polls (refetchInterval).
// Data that no event carries (health, agents, breakers) always polls.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";

import { getKey } from "../lib/auth";
import { api, unwrap } from "./client";
import { followPool } from "./pool";

export type LiveMode = { kind: "poll"; intervalMs: number } | { kind: "push" };

const POLL_MS = 1000;
/** A runs list with more pages loaded than this is not read again by itself. */
export const LIVE_PAGES = 3;
export const POLL: LiveMode = { kind: "poll", intervalMs: POLL_MS };
const LiveContext = createContext<LiveMode>(POLL);

export function LiveProvider({ mode, children }: { mode: LiveMode; children: ReactNode }) {
  return <LiveContext.Provider value={mode}>{children}</LiveContext.Provider>;
}

export function useLiveMode(): LiveMode {
  return useContext(LiveContext);
}

/** The refetch interval of a query that is live while `active` (false: no polling).
 * `pushed`: the pool's events cover this data, so it does not poll while they flow. */
export function useRefetchInterval(active: boolean, slower = 1, pushed = true): number | false {
  const mode = useContext(LiveContext);
  if (!active) return false;
  if (mode.kind === "push") return pushed ? false : POLL_MS * slower;
  return mode.intervalMs * slower;
}

/** Whether a query is read again on events: not a runs list scrolled past LIVE_PAGES
 * pages, which would read every page again (it offers a refresh instead). */
export function followed(query: { state: { data?: unknown } }): boolean {
  const data = query.state.data as { pages?: unknown[] } | undefined;
  return (data?.pages?.length ?? 0) <= LIVE_PAGES;
}

/** Subscribe to the pool's run events when the API names a node; poll meanwhile. */
export function PoolLive({ children }: { children: ReactNode }) {
  const client = useQueryClient();
  const [mode, setMode] = useState<LiveMode>(POLL);
  const config = useQuery({
    queryKey: ["dashboard-config"],
    queryFn: () => unwrap(api.GET("/v1/dashboard/config")),
    staleTime: Infinity,
    retry: false,
  });
  const urls = config.data?.pool_urls;
  const token = getKey() ?? "";
  useEffect(() => {
    if (!urls?.length || typeof WebSocket === "undefined") return;
    return followPool({
      urls,
      token,
      onLive: (live) => {
        setMode(live ? { kind: "push" } : POLL);
        // Whatever happened while not connected: read it again.
        if (live) void client.invalidateQueries({ predicate: (q) => q.queryKey[0] !== "dashboard-config" && followed(q) });
      },
      onEvents: (runIds) => {
        for (const id of runIds) {
          void client.invalidateQueries({ queryKey: ["run", id] });
          void client.invalidateQueries({ queryKey: ["timeline", id] });
        }
        void client.invalidateQueries({ queryKey: ["runs"], predicate: followed });
      },
    });
  }, [client, urls, token]);
  return <LiveProvider mode={mode}>{children}</LiveProvider>;
}
