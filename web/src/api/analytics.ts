// Analytics reads (/v1/analytics): time series, duration percentiles, anomalies, patterns.
import { useQuery } from "@tanstack/react-query";

import { api, unwrap, type Schemas } from "./client";
import { useRefetchInterval } from "./live";
import type { operations } from "./schema";

export type Metric = NonNullable<
  NonNullable<operations["analytics-timeseries"]["parameters"]["query"]>["metric"]
>;
export type Preset = NonNullable<
  NonNullable<operations["analytics-timeseries"]["parameters"]["query"]>["range"]
>;
export type Series = Schemas["Series"];
export type Durations = Schemas["Durations"];
export type Anomalies = Schemas["Anomalies"];
export type PatternSummary = Schemas["PatternSummary"];

export const PRESETS: Preset[] = ["15m", "1h", "24h", "7d", "30d"];
export const METRICS: [Metric, string][] = [
  ["runs_started", "runs started"],
  ["runs_completed", "runs completed"],
  ["runs_failed", "runs failed"],
  ["runs_cancelled", "runs cancelled"],
  ["steps_completed", "steps completed"],
  ["steps_failed", "steps failed"],
  ["events", "events"],
  ["cost_usd", "cost (USD)"],
  ["tokens", "tokens"],
  ["completion_rate", "completion rate"],
  ["step_success_rate", "step success rate"],
  ["quality", "quality"],
  ["step_ms_avg", "mean step time (ms)"],
  ["run_ms_avg", "mean run time (ms)"],
  ["cost_per_run", "cost per run (USD)"],
];
export const METRIC_LABEL = Object.fromEntries(METRICS) as Record<Metric, string>;

/** A preset ending now, or a custom range (ISO 8601 start and end). */
export type Range = { preset: Preset } | { start: string; end: string };

export interface SeriesQuery {
  metric: Metric;
  range: Range;
  pattern?: string | undefined;
}

function rangeQuery(range: Range) {
  return "preset" in range
    ? { range: range.preset, start: null, end: null }
    : { range: null, start: range.start, end: range.end };
}

export function rangeLabel(range: Range): string {
  if ("preset" in range) return `last ${range.preset}`;
  const fmt = (iso: string) => new Date(iso).toLocaleString();
  return `${fmt(range.start)} – ${fmt(range.end)}`;
}

const key = (name: string, ...parts: unknown[]) => ["analytics", name, ...parts] as const;

export function useSeries({ metric, range, pattern }: SeriesQuery, enabled = true) {
  const refetchInterval = useRefetchInterval("preset" in range, 30, false);
  return useQuery({
    queryKey: key("timeseries", metric, range, pattern ?? null),
    queryFn: () =>
      unwrap(
        api.GET("/v1/analytics/timeseries", {
          params: { query: { metric, ...rangeQuery(range), pattern: pattern ?? null } },
        }),
      ),
    refetchInterval,
    enabled,
  });
}

export function useAnomalies({ metric, range, pattern }: SeriesQuery) {
  const refetchInterval = useRefetchInterval("preset" in range, 30, false);
  return useQuery({
    queryKey: key("anomalies", metric, range, pattern ?? null),
    queryFn: () =>
      unwrap(
        api.GET("/v1/analytics/anomalies", {
          params: { query: { metric, ...rangeQuery(range), pattern: pattern ?? null } },
        }),
      ),
    refetchInterval,
  });
}

export function useDurations(kind: "step" | "run", range: Range, pattern?: string) {
  const refetchInterval = useRefetchInterval("preset" in range, 30, false);
  return useQuery({
    queryKey: key("durations", kind, range, pattern ?? null),
    queryFn: () =>
      unwrap(
        api.GET("/v1/analytics/durations", {
          params: { query: { kind, ...rangeQuery(range), pattern: pattern ?? null } },
        }),
      ),
    refetchInterval,
  });
}

export function usePatterns(range: Range) {
  const refetchInterval = useRefetchInterval("preset" in range, 30, false);
  return useQuery({
    queryKey: key("patterns", range),
    queryFn: () =>
      unwrap(api.GET("/v1/analytics/patterns", { params: { query: rangeQuery(range) } })),
    refetchInterval,
  });
}

/** The sum of a count series' points (null when none has a value). */
export function total(series: Series | undefined): number | null {
  const values = (series?.points ?? []).map((p) => p.value).filter((v): v is number => v != null);
  return values.length ? values.reduce((a, b) => a + b, 0) : null;
}

/** Mean quality over patterns, weighted by the runs each completed. */
export function weightedQuality(patterns: PatternSummary[] | undefined): number | null {
  let sum = 0;
  let weight = 0;
  for (const p of patterns ?? []) {
    if (p.quality == null) continue;
    const w = Math.max(p.runs_completed, 1);
    sum += p.quality * w;
    weight += w;
  }
  return weight ? sum / weight : null;
}
