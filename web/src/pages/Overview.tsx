import { lazy, Suspense, useMemo } from "react";
import { Link } from "react-router-dom";

import { total, usePatterns, useSeries, weightedQuality } from "../api/analytics";
import type { RunSummary } from "../api/client";
import { useAgents, useHealth, useRuns } from "../api/hooks";
import { ErrorBox } from "../components/ErrorBox";
import { StatusBadge } from "../components/StatusBadge";
import { percent, usd } from "../lib/format";

// The chart library is the largest part of the page: it loads after the key figures show.
const RunsChart = lazy(() => import("../components/RunsChart"));
const SeriesChart = lazy(() => import("../components/SeriesChart"));
const DAY = { preset: "24h" } as const;

export interface Kpis {
  total: number;
  active: number;
  waiting: number;
  completed: number;
  failed: number;
  completionRate: number | null;
}

export function kpis(runs: RunSummary[]): Kpis {
  const ended = runs.filter((r) => !["running", "waiting", "stuck"].includes(r.status));
  const completed = runs.filter((r) => r.status === "completed").length;
  return {
    total: runs.length,
    active: runs.filter((r) => r.status === "running" || r.status === "stuck").length,
    waiting: runs.filter((r) => r.status === "waiting").length,
    completed,
    failed: runs.filter((r) => r.status === "failed" || r.status === "timed_out").length,
    completionRate: ended.length ? completed / ended.length : null,
  };
}

/** Runs started per hour over the last 24 hours, by how they stand. */
export function runsPerHour(runs: RunSummary[], now = Date.now()) {
  const hour = 3_600_000;
  const start = Math.floor(now / hour) * hour - 23 * hour;
  const buckets = Array.from({ length: 24 }, (_, i) => ({
    hour: new Date(start + i * hour).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
    completed: 0,
    failed: 0,
    active: 0,
    other: 0,
  }));
  for (const run of runs) {
    if (!run.started_at) continue;
    const index = Math.floor((Date.parse(run.started_at) - start) / hour);
    const bucket = buckets[index];
    if (!bucket) continue;
    if (run.status === "completed") bucket.completed++;
    else if (run.status === "failed" || run.status === "timed_out") bucket.failed++;
    else if (["running", "waiting", "stuck"].includes(run.status)) bucket.active++;
    else bucket.other++;
  }
  return buckets;
}

export default function Overview() {
  const runs = useRuns({ limit: 1000 });
  const agents = useAgents();
  const health = useHealth();
  const list = useMemo(() => runs.data ?? [], [runs.data]);
  const k = kpis(list);
  const chart = useMemo(() => runsPerHour(list), [list]);
  const busyAgents = (agents.data ?? []).filter((a) => a.in_flight > 0).length;
  const cost = useSeries({ metric: "cost_usd", range: DAY });
  const patterns = usePatterns(DAY);
  const quality = weightedQuality(patterns.data);

  return (
    <main className="page" id="main">
      <h1>Overview</h1>
      <ErrorBox error={runs.error} />
      <section aria-labelledby="kpi-title">
        <h2 id="kpi-title" className="visually-hidden">
          Key figures
        </h2>
        <dl className="kpis">
          <Kpi label="Runs (latest 1000)" value={runs.isPending ? "…" : String(k.total)} />
          <Kpi label="Completion rate" value={percent(k.completionRate)} />
          <Kpi label="Running" value={String(k.active)} to="/runs?status=running" />
          <Kpi label="Waiting for a person" value={String(k.waiting)} to="/runs?status=waiting" />
          <Kpi label="Failed" value={String(k.failed)} to="/runs?status=failed" />
          <Kpi
            label="Cost (24 h)"
            value={cost.isPending ? "…" : cost.error ? "—" : usd(total(cost.data) ?? 0)}
            to="/analytics?metric=cost_usd&range=24h"
          />
          <Kpi
            label="Quality (24 h)"
            value={patterns.isPending ? "…" : percent(quality)}
            to="/analytics?metric=quality&range=24h"
          />
          <Kpi
            label="Active agents"
            value={agents.data ? `${busyAgents} / ${agents.data.length}` : "—"}
            to="/agents"
          />
        </dl>
      </section>
      <div className="grid2">
        <section className="card" aria-labelledby="chart-title">
          <h2 id="chart-title">Runs started per hour (24 h)</h2>
          <div className="chart" role="img" aria-label="Bar chart of runs started per hour">
            <Suspense fallback={<p className="muted">Loading the chart…</p>}>
              <RunsChart data={chart} />
            </Suspense>
          </div>
        </section>
        <section className="card" aria-labelledby="health-title">
          <h2 id="health-title">System health</h2>
          <ErrorBox error={health.error} />
          {health.data && (
            <>
              <p>
                Overall: <StatusBadge status={health.data.status} />
              </p>
              <table className="table">
                <thead>
                  <tr>
                    <th scope="col">Part</th>
                    <th scope="col">State</th>
                  </tr>
                </thead>
                <tbody>
                  {Object.entries(health.data.checks).map(([part, state]) => (
                    <tr key={part}>
                      <th scope="row">{part}</th>
                      <td>{state === "ok" ? <StatusBadge status="ok" /> : <span className="bad-text">{state}</span>}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
        </section>
      </div>
      <section className="card" aria-labelledby="cost-title">
        <h2 id="cost-title">Cost over time (24 h, USD per 15 min)</h2>
        <ErrorBox error={cost.error ?? patterns.error} />
        <div className="chart" role="img" aria-label="Line chart of the cost per 15 minutes over 24 hours">
          <Suspense fallback={<p className="muted">Loading the chart…</p>}>
            {cost.data ? (
              <SeriesChart series={[{ name: "cost (USD)", points: cost.data.points }]} height={200} />
            ) : (
              <p className="muted">{cost.isPending ? "Loading cost…" : "No cost figures."}</p>
            )}
          </Suspense>
        </div>
      </section>
    </main>
  );
}

function Kpi({ label, value, to }: { label: string; value: string; to?: string }) {
  return (
    <div className="kpi">
      <dt>{label}</dt>
      <dd>{to ? <Link to={to}>{value}</Link> : value}</dd>
    </div>
  );
}
