// Every read and action of the dashboard, as TanStack Query hooks over the typed client.
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import {
  api,
  ApiError,
  toApiError,
  unwrap,
  type RouteRequest,
  type RunStatus,
  type RunSummary,
  type RunView,
  type Schemas,
} from "./client";
import { followed, useRefetchInterval } from "./live";
import type { operations } from "./schema";

export type ListStatus = Exclude<RunStatus, "stuck">;
export type Pattern = NonNullable<
  NonNullable<operations["runs-list"]["parameters"]["query"]>["pattern"]
>;

export const PATTERNS: Pattern[] = [
  "pipeline",
  "scatter-gather",
  "consensus",
  "saga",
  "supervisor",
  "event-driven",
];
export const STATUSES: ListStatus[] = [
  "running",
  "waiting",
  "completed",
  "failed",
  "cancelled",
  "terminated",
  "timed_out",
];
export const ACTIVE: RunStatus[] = ["running", "waiting", "stuck"];

export const queryKeys = {
  runs: (filters: RunFilters) => ["runs", filters] as const,
  runPages: (filters: RunSearch) => ["runs", "pages", filters] as const,
  allRuns: ["runs"] as const,
  run: (id: string) => ["run", id] as const,
  timeline: (id: string) => ["timeline", id] as const,
  agents: ["agents"] as const,
  breakers: ["breakers"] as const,
  health: ["health"] as const,
};

export interface RunFilters {
  status?: ListStatus | undefined;
  pattern?: Pattern | undefined;
  limit?: number | undefined;
}

export function useRuns(filters: RunFilters) {
  const refetchInterval = useRefetchInterval(true, 3);
  return useQuery({
    queryKey: queryKeys.runs(filters),
    queryFn: () =>
      unwrap(
        api.GET("/v1/runs", {
          params: {
            query: {
              status: filters.status ?? null,
              pattern: filters.pattern ?? null,
              limit: filters.limit ?? 500,
            },
          },
        }),
      ),
    refetchInterval,
  });
}

/** What the runs list asks the API for (all filtered on the server). */
export interface RunSearch {
  status?: ListStatus | undefined;
  pattern?: Pattern | undefined;
  q?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

export const RUN_PAGE_SIZE = 100;
export const NEXT_CURSOR = "X-Acc-Next-Cursor";

export interface RunPage {
  runs: RunSummary[];
  next: string | null;
}

/** The runs list a page at a time: each page continues after the last run of the one
 * before (the API's `X-Acc-Next-Cursor`), so pages never skip or repeat a run. */
export function useRunPages(search: RunSearch) {
  const refetchInterval = useRefetchInterval(true, 3);
  return useInfiniteQuery({
    queryKey: queryKeys.runPages(search),
    initialPageParam: null as string | null,
    queryFn: async ({ pageParam }): Promise<RunPage> => {
      let next: string | null = null;
      const runs = await unwrap(
        api
          .GET("/v1/runs", {
            params: {
              query: {
                status: search.status ?? null,
                pattern: search.pattern ?? null,
                q: search.q || null,
                since: search.since ?? null,
                until: search.until ?? null,
                cursor: pageParam,
                limit: RUN_PAGE_SIZE,
              },
            },
          })
          .then((result) => {
            next = result.response.headers.get(NEXT_CURSOR);
            return result;
          }),
      );
      return { runs, next };
    },
    getNextPageParam: (last) => last.next,
    // Reading again means reading every page loaded: past LIVE_PAGES the list stays as
    // read and the page offers to read it again from the top.
    refetchInterval: (query) => (followed(query) ? refetchInterval : false),
    refetchOnWindowFocus: (query) => followed(query),
  });
}

export function useRun(id: string) {
  const client = useQueryClient();
  const cached = client.getQueryData<RunView>(queryKeys.run(id));
  const active = !cached || ACTIVE.includes(cached.status);
  const refetchInterval = useRefetchInterval(active);
  return useQuery({
    queryKey: queryKeys.run(id),
    queryFn: () => unwrap(api.GET("/v1/runs/{run_id}", { params: { path: { run_id: id } } })),
    refetchInterval: (query) =>
      query.state.data && !ACTIVE.includes(query.state.data.status) ? false : refetchInterval,
  });
}

export function useTimeline(id: string, live: boolean) {
  const refetchInterval = useRefetchInterval(live, 2);
  return useQuery({
    queryKey: queryKeys.timeline(id),
    queryFn: () =>
      unwrap(api.GET("/v1/runs/{run_id}/timeline", { params: { path: { run_id: id } } })),
    refetchInterval,
  });
}

export function useAgents() {
  const refetchInterval = useRefetchInterval(true, 3, false);
  return useQuery({
    queryKey: queryKeys.agents,
    queryFn: () => unwrap(api.GET("/v1/agents")),
    refetchInterval,
  });
}

export function useBreakers() {
  const refetchInterval = useRefetchInterval(true, 3, false);
  return useQuery({
    queryKey: queryKeys.breakers,
    queryFn: () => unwrap(api.GET("/v1/agents/breakers")),
    refetchInterval,
  });
}

export interface Health {
  status: "ok" | "degraded" | "down";
  checks: Record<string, string>;
  down: string[];
  degraded: string[];
}

/** `/readyz`: 200 ok/degraded, 503 down, both with the same body. */
export function useHealth() {
  const refetchInterval = useRefetchInterval(true, 5, false);
  return useQuery({
    queryKey: queryKeys.health,
    queryFn: async (): Promise<Health> => {
      let response: Response;
      try {
        response = await fetch("/readyz");
      } catch (exc) {
        throw new ApiError(0, "network", `the API did not answer: ${(exc as Error).message}`);
      }
      const body: unknown = await response.json().catch(() => null);
      if (body && typeof body === "object" && "checks" in body) return body as Health;
      throw toApiError(response.status, body);
    },
    refetchInterval,
  });
}

export type SpecBody = Schemas["SpecBody"];

export function useStartRun() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (spec: SpecBody) => unwrap(api.POST("/v1/runs", { body: spec })),
    onSuccess: () => client.invalidateQueries({ queryKey: queryKeys.allRuns }),
  });
}

export function useCancelRun(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () =>
      unwrap(api.POST("/v1/runs/{run_id}/cancel", { params: { path: { run_id: id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: queryKeys.run(id) }),
  });
}

export function useDecide(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ approve, comment }: { approve: boolean; comment: string }) =>
      unwrap(
        approve
          ? api.POST("/v1/runs/{run_id}/approve", {
              params: { path: { run_id: id } },
              body: { comment },
            })
          : api.POST("/v1/runs/{run_id}/reject", {
              params: { path: { run_id: id } },
              body: { comment },
            }),
      ),
    onSuccess: (view) => {
      client.setQueryData(queryKeys.run(id), view);
      return client.invalidateQueries({ queryKey: queryKeys.run(id) });
    },
  });
}

export function useFork(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (request: { from_step: number; input: string | null }) =>
      unwrap(
        api.POST("/v1/runs/{run_id}/fork", {
          params: { path: { run_id: id } },
          body: request,
        }),
      ),
    onSuccess: () => client.invalidateQueries({ queryKey: queryKeys.allRuns }),
  });
}

export function useRoute() {
  return useMutation({
    mutationFn: (request: RouteRequest) => unwrap(api.POST("/v1/agents/route", { body: request })),
  });
}
