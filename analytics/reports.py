"""Reports: a tenant's metrics over a time range, one row per step of the range, as JSON
(with the agent and pattern summaries) or CSV (the rows)."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics import queries
from analytics.ranges import TimeRange

COLUMNS: tuple[queries.Metric, ...] = (
    "runs_started",
    "runs_completed",
    "runs_failed",
    "runs_cancelled",
    "completion_rate",
    "steps_completed",
    "steps_failed",
    "step_ms_avg",
    "cost_usd",
    "tokens",
    "quality",
)


class Report(BaseModel):
    tenant: str
    start: datetime
    end: datetime
    step_seconds: int
    columns: list[str]
    rows: list[dict[str, float | str | None]]
    agents: list[queries.AgentEfficiency]
    patterns: list[queries.PatternSummary]


async def build(engine: AsyncEngine, tenant: str, rng: TimeRange) -> Report:
    series = {m: await queries.timeseries(engine, tenant, m, rng) for m in COLUMNS}
    times = [p.time for p in series[COLUMNS[0]].points]
    rows: list[dict[str, float | str | None]] = [
        {"time": t.isoformat(), **{m: series[m].points[i].value for m in COLUMNS}}
        for i, t in enumerate(times)
    ]
    return Report(
        tenant=tenant,
        start=rng.start,
        end=rng.end,
        step_seconds=int(rng.step.total_seconds()),
        columns=["time", *COLUMNS],
        rows=rows,
        agents=await queries.agents(engine, tenant, rng),
        patterns=await queries.patterns(engine, tenant, rng),
    )


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=report.columns, lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
