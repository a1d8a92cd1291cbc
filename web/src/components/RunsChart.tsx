import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";

const SERIES = [
  ["completed", "var(--ok)"],
  ["failed", "var(--bad)"],
  ["active", "var(--accent)"],
  ["other", "var(--muted)"],
] as const;

export interface HourBucket {
  hour: string;
  completed: number;
  failed: number;
  active: number;
  other: number;
}

/** Runs started per hour, stacked by how they stand. */
export default function RunsChart({ data }: { data: HourBucket[] }) {
  return (
    <ResponsiveContainer width="100%" height={240}>
      <BarChart data={data} margin={{ top: 8, right: 8, bottom: 0, left: -16 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" />
        <XAxis dataKey="hour" stroke="var(--muted)" fontSize={12} interval={3} />
        <YAxis allowDecimals={false} stroke="var(--muted)" fontSize={12} />
        <Tooltip contentStyle={{ background: "var(--surface)", border: "1px solid var(--border)" }} />
        <Legend />
        {SERIES.map(([key, color]) => (
          <Bar key={key} dataKey={key} stackId="runs" fill={color} isAnimationActive={false} />
        ))}
      </BarChart>
    </ResponsiveContainer>
  );
}
