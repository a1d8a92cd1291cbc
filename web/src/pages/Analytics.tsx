import { lazy, Suspense, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";

import {
  METRIC_LABEL,
  METRICS,
  PRESETS,
  rangeLabel,
  useAnomalies,
  useDurations,
  usePatterns,
  useSeries,
  type Metric,
  type Preset,
  type Range,
  type Series,
} from "../api/analytics";
import { PATTERNS } from "../api/hooks";
import { ErrorBox } from "../components/ErrorBox";
import type { ChartSeries } from "../components/SeriesChart";
import { percent, usd } from "../lib/format";
import { useShortcuts } from "../lib/shortcuts";

const SeriesChart = lazy(() => import("../components/SeriesChart"));
const HistogramChart = lazy(() =>
  import("../components/SeriesChart").then((m) => ({ default: m.HistogramChart })),
);

type Compare = "" | "previous" | "metric";

/** The range of the address: a preset, or start and end. */
export function rangeOf(params: URLSearchParams): Range {
  const start = params.get("start");
  const end = params.get("end");
  if (start && end && !Number.isNaN(Date.parse(start)) && !Number.isNaN(Date.parse(end)))
    return { start, end };
  const preset = params.get("range") as Preset | null;
  return { preset: preset && PRESETS.includes(preset) ? preset : "1h" };
}

/** The range just before the one a series covers, of the same length. */
export function previousRange(series: Series): Range {
  const start = Date.parse(series.start);
  const span = Date.parse(series.end) - start;
  return { start: new Date(start - span).toISOString(), end: new Date(start).toISOString() };
}

/** The runs list filtered to what a point of a series covers. */
export function runsLink(from: string, stepSeconds: number, pattern?: string): string {
  const to = new Date(Date.parse(from) + stepSeconds * 1000).toISOString();
  const query = new URLSearchParams({ from: new Date(from).toISOString(), to });
  if (pattern) query.set("pattern", pattern);
  return `/runs?${query.toString()}`;
}

function toLocalInput(iso: string): string {
  const date = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function format(metric: Metric, value: number | null | undefined): string {
  if (value == null) return "—";
  if (metric === "cost_usd" || metric === "cost_per_run") return usd(value);
  if (metric === "completion_rate" || metric === "step_success_rate" || metric === "quality")
    return percent(value);
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

export default function Analytics() {
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const range = rangeOf(params);
  const metric = (params.get("metric") as Metric | null) ?? "runs_completed";
  const metric2 = (params.get("metric2") as Metric | null) ?? "runs_failed";
  const pattern = params.get("pattern") || undefined;
  const compare = (params.get("compare") ?? "") as Compare;
  const sideBySide = params.get("layout") === "side";
  const [kind, setKind] = useState<"step" | "run">("step");

  const update = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [name, value] of Object.entries(changes)) {
      if (value) next.set(name, value);
      else next.delete(name);
    }
    setParams(next, { replace: true });
  };
  const setPreset = (preset: Preset) => update({ range: preset, start: null, end: null });

  const series = useSeries({ metric, range, pattern });
  const anomalies = useAnomalies({ metric, range, pattern });
  const otherRange: Range | null =
    compare === "previous" ? (series.data ? previousRange(series.data) : null) : range;
  const other = useSeries(
    { metric: compare === "metric" ? metric2 : metric, range: otherRange ?? range, pattern },
    compare !== "" && otherRange !== null,
  );
  const durations = useDurations(kind, range, pattern);
  const patterns = usePatterns(range);

  useShortcuts(
    Object.fromEntries(PRESETS.map((p, i) => [String(i + 1), () => setPreset(p)])),
  );

  const step = series.data?.step_seconds ?? 60;
  const flagged = (anomalies.data?.points ?? []).filter((p) => p.anomaly);
  const primary: ChartSeries = {
    name: `${METRIC_LABEL[metric] ?? metric}, ${rangeLabel(range)}`,
    points: series.data?.points ?? [],
  };
  const secondary: ChartSeries | null =
    compare && other.data
      ? {
          name:
            compare === "metric"
              ? `${METRIC_LABEL[metric2] ?? metric2}, ${rangeLabel(range)}`
              : `${METRIC_LABEL[metric] ?? metric}, the range before`,
          points: other.data.points,
        }
      : null;
  const drill = (time: string) => navigate(runsLink(time, step, pattern));

  return (
    <main className="page" id="main">
      <h1>Performance analytics</h1>
      <form className="filters" aria-label="What to chart" onSubmit={(e) => e.preventDefault()}>
        <div className="field">
          <span className="label" id="range-label">
            Range (keys 1-5)
          </span>
          <div className="segmented" role="group" aria-labelledby="range-label">
            {PRESETS.map((p) => (
              <button
                key={p}
                type="button"
                aria-pressed={"preset" in range && range.preset === p}
                onClick={() => setPreset(p)}
              >
                {p}
              </button>
            ))}
          </div>
        </div>
        <CustomRange
          range={range}
          onApply={(start, end) => update({ start, end, range: null })}
        />
        <div className="field">
          <label htmlFor="metric">Metric</label>
          <select id="metric" value={metric} onChange={(e) => update({ metric: e.target.value })}>
            {METRICS.map(([m, label]) => (
              <option key={m} value={m}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="an-pattern">Pattern</label>
          <select id="an-pattern" value={pattern ?? ""} onChange={(e) => update({ pattern: e.target.value })}>
            <option value="">any</option>
            {PATTERNS.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="compare">Compare with</label>
          <select id="compare" value={compare} onChange={(e) => update({ compare: e.target.value })}>
            <option value="">nothing</option>
            <option value="previous">the range before</option>
            <option value="metric">another metric</option>
          </select>
        </div>
        {compare === "metric" && (
          <div className="field">
            <label htmlFor="metric2">Second metric</label>
            <select id="metric2" value={metric2} onChange={(e) => update({ metric2: e.target.value })}>
              {METRICS.map(([m, label]) => (
                <option key={m} value={m}>
                  {label}
                </option>
              ))}
            </select>
          </div>
        )}
        {compare && (
          <div className="field">
            <label htmlFor="layout">Layout</label>
            <select
              id="layout"
              value={sideBySide ? "side" : "overlay"}
              onChange={(e) => update({ layout: e.target.value === "side" ? "side" : null })}
            >
              <option value="overlay">overlay</option>
              <option value="side">side by side</option>
            </select>
          </div>
        )}
      </form>
      <ErrorBox error={series.error ?? other.error} />
      <section className="card" aria-labelledby="series-title">
        <div className="title-row">
          <h2 id="series-title">
            {METRIC_LABEL[metric] ?? metric} · {rangeLabel(range)}
            {pattern ? ` · ${pattern}` : ""}
          </h2>
          {series.data && (
            <Link to={runsLink(series.data.start, (Date.parse(series.data.end) - Date.parse(series.data.start)) / 1000, pattern)}>
              Runs in this range
            </Link>
          )}
        </div>
        <p className="hint">
          {series.isPending
            ? "Loading the series…"
            : `${series.data?.points.length ?? 0} points of ${Math.round(step / 60)} min; click a point to see its runs. ` +
              `${flagged.length} ${flagged.length === 1 ? "anomaly" : "anomalies"} marked in red.`}
        </p>
        <Suspense fallback={<p className="muted">Loading the chart…</p>}>
          {series.data && (
            <div className={sideBySide && secondary ? "grid-even" : undefined}>
              <div className="chart" role="img" aria-label={`Line chart of ${primary.name}`}>
                <SeriesChart
                  series={secondary && !sideBySide ? [primary, secondary] : [primary]}
                  anomalies={flagged}
                  onPick={drill}
                />
              </div>
              {secondary && sideBySide && (
                <div className="chart" role="img" aria-label={`Line chart of ${secondary.name}`}>
                  <SeriesChart series={[secondary]} onPick={compare === "metric" ? drill : undefined} />
                </div>
              )}
            </div>
          )}
        </Suspense>
        {compare && other.isPending && <p className="muted">Loading the comparison…</p>}
        {secondary && (
          <p data-testid="comparison">
            Total {primary.name}: <strong>{format(metric, sum(primary))}</strong>; {secondary.name}:{" "}
            <strong>{format(compare === "metric" ? metric2 : metric, sum(secondary))}</strong>
          </p>
        )}
      </section>
      <section className="card" aria-labelledby="anomalies-title">
        <h2 id="anomalies-title">Anomalies</h2>
        <ErrorBox error={anomalies.error} />
        {anomalies.isPending && <p className="muted">Loading anomalies…</p>}
        {anomalies.data && flagged.length === 0 && (
          <p className="muted">None: no point is more than {anomalies.data.threshold} robust z from the {anomalies.data.window} before it.</p>
        )}
        {flagged.length > 0 && (
          <table className="table" data-testid="anomalies">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Value</th>
                <th scope="col">Baseline</th>
                <th scope="col">Score</th>
                <th scope="col">Runs</th>
              </tr>
            </thead>
            <tbody>
              {flagged.map((p) => (
                <tr key={p.time}>
                  <td>{new Date(p.time).toLocaleString()}</td>
                  <td>{format(metric, p.value)}</td>
                  <td>{format(metric, p.baseline)}</td>
                  <td>{p.score?.toFixed(1) ?? "—"}</td>
                  <td>
                    <Link to={runsLink(p.time, step, pattern)}>Runs then</Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <div className="grid-even">
        <section className="card" aria-labelledby="durations-title">
          <div className="title-row">
            <h2 id="durations-title">Durations</h2>
            <div className="field">
              <label htmlFor="kind">Of</label>
              <select id="kind" value={kind} onChange={(e) => setKind(e.target.value as "step" | "run")}>
                <option value="step">steps</option>
                <option value="run">runs</option>
              </select>
            </div>
          </div>
          <ErrorBox error={durations.error} />
          {durations.isPending && <p className="muted">Loading durations…</p>}
          {durations.data && (
            <>
              <dl className="facts" data-testid="percentiles">
                <div>
                  <dt>count</dt>
                  <dd>{durations.data.count}</dd>
                </div>
                {["p50", "p90", "p95", "p99"].map((p) => (
                  <div key={p}>
                    <dt>{p}</dt>
                    <dd>{fmtMs(durations.data.percentiles_ms[p])}</dd>
                  </div>
                ))}
              </dl>
              <div className="chart" role="img" aria-label={`Histogram of ${kind} durations`}>
                <Suspense fallback={<p className="muted">Loading the chart…</p>}>
                  <HistogramChart buckets={durations.data.histogram} />
                </Suspense>
              </div>
            </>
          )}
        </section>
        <section className="card" aria-labelledby="patterns-title">
          <h2 id="patterns-title">By pattern</h2>
          <ErrorBox error={patterns.error} />
          {patterns.isPending && <p className="muted">Loading patterns…</p>}
          {patterns.data && patterns.data.length === 0 && <p className="muted">No runs in this range.</p>}
          {patterns.data && patterns.data.length > 0 && (
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Pattern</th>
                  <th scope="col">Runs</th>
                  <th scope="col">Completed</th>
                  <th scope="col">Cost / run</th>
                  <th scope="col">Quality</th>
                </tr>
              </thead>
              <tbody>
                {patterns.data.map((p) => (
                  <tr key={p.pattern}>
                    <th scope="row">
                      {series.data ? (
                        <Link
                          to={runsLink(
                            series.data.start,
                            (Date.parse(series.data.end) - Date.parse(series.data.start)) / 1000,
                            p.pattern,
                          )}
                        >
                          {p.pattern}
                        </Link>
                      ) : (
                        p.pattern
                      )}
                    </th>
                    <td>{p.runs_started}</td>
                    <td>{percent(p.completion_rate)}</td>
                    <td>{usd(p.cost_per_run)}</td>
                    <td>{percent(p.quality)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>
    </main>
  );
}

function sum(series: ChartSeries): number | null {
  const values = series.points.map((p) => p.value).filter((v): v is number => v != null);
  return values.length ? values.reduce((a, b) => a + b, 0) : null;
}

function fmtMs(ms: number | null | undefined): string {
  if (ms == null) return "—";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function CustomRange({ range, onApply }: { range: Range; onApply: (start: string, end: string) => void }) {
  const [start, setStart] = useState("start" in range ? toLocalInput(range.start) : "");
  const [end, setEnd] = useState("end" in range ? toLocalInput(range.end) : "");
  const [problem, setProblem] = useState<string | null>(null);
  const submit = () => {
    const from = Date.parse(start);
    const to = Date.parse(end);
    if (Number.isNaN(from) || Number.isNaN(to)) return setProblem("Give a start and an end.");
    if (from >= to) return setProblem("The start must be before the end.");
    setProblem(null);
    onApply(new Date(from).toISOString(), new Date(to).toISOString());
  };
  return (
    <fieldset className="custom-range">
      <legend>Custom range</legend>
      <label htmlFor="range-start">From</label>
      <input id="range-start" type="datetime-local" value={start} onChange={(e) => setStart(e.target.value)} />
      <label htmlFor="range-end">To</label>
      <input id="range-end" type="datetime-local" value={end} onChange={(e) => setEnd(e.target.value)} />
      <button type="button" onClick={submit}>
        Apply
      </button>
      {problem && (
        <span className="bad-text" role="alert">
          {problem}
        </span>
      )}
    </fieldset>
  );
}
