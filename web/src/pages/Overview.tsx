import {
  closestCenter,
  DndContext,
  KeyboardSensor,
  PointerSensor,
  useSensor,
  useSensors,
  type DragEndEvent,
} from "@dnd-kit/core";
import {
  rectSortingStrategy,
  SortableContext,
  sortableKeyboardCoordinates,
  useSortable,
} from "@dnd-kit/sortable";
import { CSS } from "@dnd-kit/utilities";
import { lazy, Suspense, useMemo, useState, type ReactNode } from "react";
import { Link } from "react-router-dom";

import { total, usePatterns, useSeries, weightedQuality } from "../api/analytics";
import type { RunSummary } from "../api/client";
import { useAgents, useHealth, useRuns } from "../api/hooks";
import { ErrorBox } from "../components/ErrorBox";
import { StatusBadge } from "../components/StatusBadge";
import { percent, usd } from "../lib/format";
import { moved, saveLayout, storedLayout, WIDGETS, type Widget } from "../lib/layout";

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

const TITLES: Record<Widget, string> = {
  kpis: "Key figures",
  "runs-chart": "Runs started per hour (24 h)",
  health: "System health",
  cost: "Cost over time (24 h, USD per 15 min)",
};
const WIDE: Widget[] = ["kpis", "cost"];

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
  const [order, setOrder] = useState<Widget[]>(() => storedLayout());
  const sensors = useSensors(
    useSensor(PointerSensor, { activationConstraint: { distance: 5 } }),
    useSensor(KeyboardSensor, { coordinateGetter: sortableKeyboardCoordinates }),
  );
  const arrange = (next: Widget[]) => {
    setOrder(next);
    saveLayout(next);
  };
  const onDragEnd = ({ active, over }: DragEndEvent) => {
    if (!over || active.id === over.id) return;
    arrange(moved(order, order.indexOf(active.id as Widget), order.indexOf(over.id as Widget)));
  };

  const content: Record<Widget, ReactNode> = {
    kpis: (
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
    ),
    "runs-chart": (
      <div className="chart" role="img" aria-label="Bar chart of runs started per hour">
        <Suspense fallback={<p className="muted">Loading the chart…</p>}>
          <RunsChart data={chart} />
        </Suspense>
      </div>
    ),
    health: (
      <>
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
      </>
    ),
    cost: (
      <>
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
      </>
    ),
  };

  return (
    <main className="page" id="main">
      <div className="title-row">
        <h1>Overview</h1>
        <button
          type="button"
          className="action"
          onClick={() => arrange([...WIDGETS])}
          disabled={order.every((w, i) => w === WIDGETS[i])}
        >
          Reset layout
        </button>
      </div>
      <ErrorBox error={runs.error} />
      <DndContext sensors={sensors} collisionDetection={closestCenter} onDragEnd={onDragEnd}>
        <SortableContext items={order} strategy={rectSortingStrategy}>
          <div className="widgets">
            {order.map((id, index) => (
              <Arranged
                key={id}
                id={id}
                index={index}
                count={order.length}
                onMove={(to) => arrange(moved(order, index, to))}
              >
                {content[id]}
              </Arranged>
            ))}
          </div>
        </SortableContext>
      </DndContext>
    </main>
  );
}

/** A widget that can be dragged by its handle (mouse, touch, or the keyboard: Space to
 * lift, arrows to move, Space to drop, Escape to cancel) or moved by its buttons. */
function Arranged({
  id,
  index,
  count,
  onMove,
  children,
}: {
  id: Widget;
  index: number;
  count: number;
  onMove: (to: number) => void;
  children: ReactNode;
}) {
  const { attributes, listeners, setNodeRef, setActivatorNodeRef, transform, transition, isDragging } =
    useSortable({ id });
  const title = TITLES[id];
  const classes = ["card", "widget", WIDE.includes(id) ? "wide" : "", isDragging ? "dragging" : ""];
  return (
    <section
      ref={setNodeRef}
      className={classes.filter(Boolean).join(" ")}
      style={{ transform: CSS.Translate.toString(transform), transition }}
      aria-labelledby={`${id}-title`}
      data-widget={id}
    >
      <div className="widget-bar">
        <h2 id={`${id}-title`} className={id === "kpis" ? "visually-hidden" : undefined}>
          {title}
        </h2>
        <span className="widget-tools action">
          <button
            type="button"
            className="handle"
            ref={setActivatorNodeRef}
            {...attributes}
            {...listeners}
            aria-label={`Drag ${title}`}
          >
            ⠿
          </button>
          <button type="button" aria-label={`Move ${title} earlier`} disabled={index === 0} onClick={() => onMove(index - 1)}>
            ↑
          </button>
          <button
            type="button"
            aria-label={`Move ${title} later`}
            disabled={index === count - 1}
            onClick={() => onMove(index + 1)}
          >
            ↓
          </button>
        </span>
      </div>
      {children}
    </section>
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
