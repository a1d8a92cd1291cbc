import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ReferenceDot,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";

export interface ChartPoint {
  time: string;
  value: number | null;
}

export interface ChartSeries {
  name: string;
  points: ChartPoint[];
}

const COLORS = ["var(--accent)", "var(--warn)", "var(--ok)", "var(--muted)"];

/** Rows for the chart: one per point of the first series, the others aligned by position
 * (two ranges of one length compare point by point). */
export function chartRows(series: ChartSeries[]) {
  const first = series[0]?.points ?? [];
  return first.map((point, i) => {
    const row: Record<string, string | number | null> = { time: point.time };
    series.forEach((s, n) => {
      row[`s${n}`] = s.points[i]?.value ?? null;
    });
    return row;
  });
}

export function shortTime(iso: string, spanMs: number): string {
  const date = new Date(iso);
  return spanMs > 86_400_000
    ? date.toLocaleDateString([], { month: "short", day: "numeric", hour: "2-digit" })
    : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** Line chart of one or more series over time; anomalies as red dots; a click on a point
 * gives its time (for drill-down). */
export default function SeriesChart({
  series,
  anomalies = [],
  height = 260,
  onPick,
}: {
  series: ChartSeries[];
  anomalies?: ChartPoint[];
  height?: number;
  onPick?: (time: string) => void;
}) {
  const rows = chartRows(series);
  const first = rows[0]?.time;
  const last = rows.at(-1)?.time;
  const span = first && last ? Date.parse(String(last)) - Date.parse(String(first)) : 0;
  return (
    <ResponsiveContainer width="100%" height={height}>
      <LineChart
        data={rows}
        margin={{ top: 8, right: 12, bottom: 0, left: 0 }}
        onClick={(state) => {
          const index = Number(state.activeTooltipIndex);
          const row = Number.isInteger(index) ? rows[index] : undefined;
          if (onPick && row) onPick(String(row.time));
        }}
        style={onPick ? { cursor: "pointer" } : undefined}
      >
        <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" />
        <XAxis
          dataKey="time"
          stroke="var(--muted)"
          fontSize={12}
          minTickGap={24}
          tickFormatter={(v: string) => shortTime(v, span)}
        />
        <YAxis stroke="var(--muted)" fontSize={12} width={56} />
        <Tooltip
          contentStyle={{ background: "var(--surface)", border: "1px solid var(--border)" }}
          labelFormatter={(v) => new Date(String(v)).toLocaleString()}
        />
        {series.length > 1 && <Legend />}
        {series.map((s, n) => (
          <Line
            key={n}
            dataKey={`s${n}`}
            name={s.name}
            stroke={COLORS[n % COLORS.length]}
            strokeDasharray={n === 1 ? "5 3" : undefined}
            dot={false}
            connectNulls={false}
            isAnimationActive={false}
          />
        ))}
        {anomalies.map((a) =>
          a.value == null ? null : (
            <ReferenceDot
              key={a.time}
              x={a.time}
              y={a.value}
              r={6}
              fill="var(--bad)"
              stroke="var(--text)"
              className="anomaly-dot"
            />
          ),
        )}
      </LineChart>
    </ResponsiveContainer>
  );
}

/** The histogram of durations (log-spaced buckets). */
export function HistogramChart({ buckets }: { buckets: { up_to_ms: number; count: number }[] }) {
  const rows = buckets.map((b) => ({ upTo: formatMs(b.up_to_ms), count: b.count }));
  return (
    <ResponsiveContainer width="100%" height={200}>
      <BarChart data={rows} margin={{ top: 8, right: 12, bottom: 0, left: 0 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" />
        <XAxis dataKey="upTo" stroke="var(--muted)" fontSize={12} minTickGap={16} />
        <YAxis allowDecimals={false} stroke="var(--muted)" fontSize={12} width={40} />
        <Tooltip contentStyle={{ background: "var(--surface)", border: "1px solid var(--border)" }} />
        <Bar dataKey="count" name="steps or runs up to" fill="var(--accent)" isAnimationActive={false} />
      </BarChart>
    </ResponsiveContainer>
  );
}

export function formatMs(ms: number | null | undefined): string {
  if (ms == null) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}
