"""Analytics over the rollups, always one tenant's: time series, duration percentiles,
agent efficiency, pattern summaries and anomalies (docs/ANALYTICS.md). Each range is read
from the coarsest rollups that fit its steps (`analytics.grains.plan`): days and hours
where whole ones lie inside a step, minutes for the rest; the answer is the one the
minutes alone give."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import bindparam, func, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics import histogram
from analytics.anomaly import robust_z_scores
from analytics.fold import ROLLUP_SUMS, utc
from analytics.grains import MINUTE, Grain, Interval, plan
from analytics.ranges import TimeRange

Metric = Literal[
    "events",
    "runs_started",
    "runs_completed",
    "runs_failed",
    "runs_cancelled",
    "steps_completed",
    "steps_failed",
    "cost_usd",
    "tokens",
    "completion_rate",
    "step_success_rate",
    "quality",
    "step_ms_avg",
    "run_ms_avg",
    "cost_per_run",
    "step_ms_p50",
    "step_ms_p90",
    "step_ms_p95",
    "step_ms_p99",
    "run_ms_p50",
    "run_ms_p90",
    "run_ms_p95",
    "run_ms_p99",
]
# Percentile metrics come from the duration histograms: "step_ms_p95" is ("step", 95).
PERCENTILES: dict[str, tuple[str, int]] = {
    f"{kind}_ms_p{q}": (kind, q) for kind in ("step", "run") for q in (50, 90, 95, 99)
}
DurationKind = Literal["step", "run"]
QUANTILES = (50, 90, 95, 99)


def derive(metric: str, s: Mapping[str, float]) -> float | None:
    """A metric from summed rollup columns (None where its denominator is 0)."""
    ended = s["runs_completed"] + s["runs_failed"] + s["runs_cancelled"]
    steps = s["steps_completed"] + s["steps_failed"]
    ratios: dict[str, tuple[float, float]] = {
        "completion_rate": (s["runs_completed"], ended),
        "step_success_rate": (s["steps_completed"], steps),
        "quality": (s["quality_sum"], s["quality_count"]),
        "step_ms_avg": (s["step_ms_sum"], s["steps_completed"]),
        "run_ms_avg": (s["run_ms_sum"], ended),
        "cost_per_run": (s["cost_usd"], ended),
    }
    if metric in ratios:
        top, bottom = ratios[metric]
        return top / bottom if bottom else None
    return s[metric]


# The minutes' intervals, cut at step boundaries, are read as one UNION ALL of range
# scans, each summed in SQL, up to this many (SQLite takes at most 500 terms); beyond it,
# and for hours and days, the grain's whole span is read grouped by its time column, and
# the rows outside the intervals are dropped here. (An OR of ranges made PostgreSQL scan
# the whole table.)
MAX_RANGES = 400
COARSE_PIECES = 4


async def _grouped(
    engine: AsyncEngine,
    tenant: str,
    rng: TimeRange,
    source: Literal["rollups", "buckets"],
    by: Sequence[str],
    sums: Sequence[str],
    per_step: bool,
    **dims: Any,
) -> AsyncIterator[tuple[datetime, tuple[Any, ...], dict[str, Any]]]:
    """Sums of the range's rows by step (or over the whole range) and `by`, one query per
    grain the plan reads: (step start, key, sums); the same step and key may come more
    than once (callers add them up)."""
    if not per_step:  # one sum over the range: its steps do not matter
        rng = TimeRange(rng.start, rng.end, max(rng.end - rng.start, timedelta(minutes=1)))
    named = tuple(sorted(name for name, value in dims.items() if value is not None))
    given = {"tenant": tenant} | {f"d_{name}": dims[name] for name in named}
    async with engine.connect() as conn:
        for grain, intervals in plan(rng).items():
            pieces = _pieces(rng, intervals)
            # Coarse rows are few: beyond a handful of pieces, one range read grouped by
            # period costs less than planning a scan per piece.
            if len(pieces) <= (MAX_RANGES if grain is MINUTE else COARSE_PIECES):
                query = _by_piece(grain, source, tuple(by), tuple(sums), named, len(pieces))
                params = given | {f"lo{i}": lo for i, (_, lo, _) in enumerate(pieces)}
                params |= {f"hi{i}": hi for i, (_, _, hi) in enumerate(pieces)}
                for row in (await conn.execute(query, params)).all():
                    values = row[1 + len(by) :]
                    if all(v is None for v in values):  # no rows: the sums of nothing
                        continue
                    step = pieces[int(row[0])][0]
                    yield step, tuple(row[1 : 1 + len(by)]), dict(zip(sums, values, strict=True))
                continue
            query = _by_period(grain, source, tuple(by), tuple(sums), named)
            params = given | {"lo": intervals[0][0], "hi": intervals[-1][1]}
            starts = [lo for lo, _ in intervals]
            for row in (await conn.execute(query, params)).all():
                at = utc(row[0])
                i = bisect_right(starts, at) - 1
                if i < 0 or at >= intervals[i][1]:
                    continue
                values = row[1 + len(by) :]
                yield (
                    rng.slot(at),
                    tuple(row[1 : 1 + len(by)]),
                    dict(zip(sums, values, strict=True)),
                )


def _parts(
    grain: Grain, source: str, by: tuple[str, ...], sums: tuple[str, ...], named: tuple[str, ...]
) -> tuple[Any, list[Any], list[Any], list[Any]]:
    table = grain.rollups if source == "rollups" else grain.buckets
    keys = [table.c[name] for name in by]
    totals = [func.sum(table.c[c]).label(c) for c in sums]
    filters = [table.c.tenant == bindparam("tenant")]
    filters += [table.c[name] == bindparam(f"d_{name}") for name in named]
    return table.c[grain.column], keys, totals, filters


@lru_cache(maxsize=512)
def _by_piece(
    grain: Grain,
    source: str,
    by: tuple[str, ...],
    sums: tuple[str, ...],
    named: tuple[str, ...],
    count: int,
) -> Any:
    """UNION ALL of `count` range scans, each summed: (piece number, *by, *sums). Built
    once per shape (a few hundred pieces cost milliseconds to build)."""
    moment, keys, totals, filters = _parts(grain, source, by, sums, named)
    parts = [
        select(literal_column(str(i)).label("piece"), *keys, *totals)
        .where(*filters, moment >= bindparam(f"lo{i}"), moment < bindparam(f"hi{i}"))
        .group_by(*keys)
        for i in range(count)
    ]
    return union_all(*parts) if count > 1 else parts[0]


@lru_cache(maxsize=64)
def _by_period(
    grain: Grain, source: str, by: tuple[str, ...], sums: tuple[str, ...], named: tuple[str, ...]
) -> Any:
    """One range read grouped by the grain's time column: (period, *by, *sums)."""
    moment, keys, totals, filters = _parts(grain, source, by, sums, named)
    return (
        select(moment, *keys, *totals)
        .where(*filters, moment >= bindparam("lo"), moment < bindparam("hi"))
        .group_by(moment, *keys)
    )


def _pieces(rng: TimeRange, intervals: list[Interval]) -> list[tuple[datetime, datetime, datetime]]:
    """The intervals cut at the range's step boundaries: (step start, start, end)."""
    out = []
    for lo, hi in intervals:
        at = lo
        while at < hi:
            step = rng.slot(at)
            end = min(hi, step + rng.step)
            out.append((step, at, end))
            at = end
    return out


async def _sums_by(
    engine: AsyncEngine, tenant: str, rng: TimeRange, by: str, **dims: Any
) -> dict[Any, dict[str, float]]:
    """The range's sums by one dimension (agent, pattern)."""
    out: dict[Any, dict[str, float]] = {}
    rows = _grouped(engine, tenant, rng, "rollups", [by], ROLLUP_SUMS, False, **dims)
    async for _, (key,), sums in rows:
        into = out.setdefault(key, dict.fromkeys(ROLLUP_SUMS, 0.0))
        for column, value in sums.items():
            into[column] += float(value or 0)
    return out


class Point(BaseModel):
    time: datetime
    value: float | None


class Series(BaseModel):
    metric: str
    start: datetime
    end: datetime
    step_seconds: int
    points: list[Point]


async def timeseries(
    engine: AsyncEngine,
    tenant: str,
    metric: Metric,
    rng: TimeRange,
    pattern: str | None = None,
    agent: str | None = None,
) -> Series:
    if metric in PERCENTILES:
        return await _percentile_series(engine, tenant, metric, rng, pattern, agent)
    slots: dict[datetime, dict[str, float]] = {
        t: dict.fromkeys(ROLLUP_SUMS, 0.0) for t in rng.steps()
    }
    rows = _grouped(
        engine, tenant, rng, "rollups", [], ROLLUP_SUMS, True, pattern=pattern, agent=agent
    )
    async for step, _, sums in rows:
        slot = slots.get(step)
        if slot is not None:
            for column, value in sums.items():
                slot[column] += float(value or 0)
    return Series(
        metric=metric,
        start=rng.start,
        end=rng.end,
        step_seconds=int(rng.step.total_seconds()),
        points=[Point(time=t, value=derive(metric, s)) for t, s in slots.items()],
    )


async def _percentile_series(
    engine: AsyncEngine,
    tenant: str,
    metric: Metric,
    rng: TimeRange,
    pattern: str | None,
    agent: str | None,
) -> Series:
    """A duration percentile per step, from the histogram buckets summed over each step."""
    kind, q = PERCENTILES[metric]
    slots: dict[datetime, dict[int, int]] = {t: {} for t in rng.steps()}
    rows = _grouped(
        engine, tenant, rng, "buckets", ["bucket"], ["count"], True,
        pattern=pattern, agent=agent, kind=kind,
    )  # fmt: skip
    async for step, (bucket,), sums in rows:
        slot = slots.get(step)
        if slot is not None:
            slot[int(bucket)] = slot.get(int(bucket), 0) + int(sums["count"])
    return Series(
        metric=metric,
        start=rng.start,
        end=rng.end,
        step_seconds=int(rng.step.total_seconds()),
        points=[Point(time=t, value=histogram.percentile(c, q)) for t, c in slots.items()],
    )


class Bucket(BaseModel):
    up_to_ms: float = Field(description="The bucket's upper bound")
    count: int


class Durations(BaseModel):
    kind: DurationKind
    count: int
    percentiles_ms: dict[str, float | None] = Field(description="p50, p90, p95, p99")
    histogram: list[Bucket]


async def durations(
    engine: AsyncEngine,
    tenant: str,
    kind: DurationKind,
    rng: TimeRange,
    pattern: str | None = None,
    agent: str | None = None,
) -> Durations:
    counts: dict[int, int] = defaultdict(int)
    rows = _grouped(
        engine, tenant, rng, "buckets", ["bucket"], ["count"], False,
        pattern=pattern, agent=agent, kind=kind,
    )  # fmt: skip
    async for _, (bucket,), sums in rows:
        counts[int(bucket)] += int(sums["count"])
    return Durations(
        kind=kind,
        count=sum(counts.values()),
        percentiles_ms={f"p{q}": histogram.percentile(counts, q) for q in QUANTILES},
        histogram=[
            Bucket(up_to_ms=round(histogram.upper_bound(b), 3), count=counts[b])
            for b in sorted(counts)
        ],
    )


class AgentEfficiency(BaseModel):
    agent: str
    backend: str
    steps_completed: int
    steps_failed: int
    success_rate: float | None
    cost_usd: float
    cost_per_success: float | None
    mean_ms: float | None
    tokens: int
    score: float | None = Field(
        description="success rate x cost factor x speed factor, 0..1 (docs/ANALYTICS.md)"
    )


async def agents(
    engine: AsyncEngine, tenant: str, rng: TimeRange, pattern: str | None = None
) -> list[AgentEfficiency]:
    """Each agent's efficiency in the range, best first.

    score = success_rate x (cheapest cost per success / this agent's) x (fastest mean
    step time / this agent's), each factor 1 for the best agent of the range; an agent
    that never succeeded scores 0, and a free agent's cost factor is 1."""
    by_agent = await _sums_by(engine, tenant, rng, "agent", pattern=pattern)
    rows = []
    for agent, s in by_agent.items():
        if not agent:
            continue
        done, failed = int(s["steps_completed"]), int(s["steps_failed"])
        rows.append(
            AgentEfficiency(
                agent=agent,
                backend=agent.split(":", 1)[0],
                steps_completed=done,
                steps_failed=failed,
                success_rate=done / (done + failed) if done + failed else None,
                cost_usd=s["cost_usd"],
                cost_per_success=s["cost_usd"] / done if done else None,
                mean_ms=s["step_ms_sum"] / done if done else None,
                tokens=int(s["tokens"]),
                score=None,
            )
        )
    costs = [r.cost_per_success for r in rows if r.cost_per_success]
    speeds = [r.mean_ms for r in rows if r.mean_ms]
    for row in rows:
        if row.success_rate is None:
            continue
        if not row.steps_completed:
            row.score = 0.0
            continue
        cost = min(costs) / row.cost_per_success if row.cost_per_success else 1.0
        speed = min(speeds) / row.mean_ms if row.mean_ms else 1.0
        row.score = round(row.success_rate * cost * speed, 4)
    return sorted(rows, key=lambda r: (r.score is None, -(r.score or 0), r.agent))


class PatternSummary(BaseModel):
    pattern: str
    runs_started: int
    runs_completed: int
    runs_failed: int
    completion_rate: float | None
    cost_per_run: float | None
    quality: float | None
    run_ms_avg: float | None
    step_success_rate: float | None = Field(
        description="Coordination efficiency: the share of step attempts that succeeded"
    )


async def patterns(engine: AsyncEngine, tenant: str, rng: TimeRange) -> list[PatternSummary]:
    by_pattern = await _sums_by(engine, tenant, rng, "pattern")
    merged: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(ROLLUP_SUMS, 0.0))
    for pattern, sums in by_pattern.items():
        for column, value in sums.items():
            merged[pattern or "unknown"][column] += value
    return [
        PatternSummary(
            pattern=pattern,
            runs_started=int(s["runs_started"]),
            runs_completed=int(s["runs_completed"]),
            runs_failed=int(s["runs_failed"]),
            completion_rate=derive("completion_rate", s),
            cost_per_run=derive("cost_per_run", s),
            quality=derive("quality", s),
            run_ms_avg=derive("run_ms_avg", s),
            step_success_rate=derive("step_success_rate", s),
        )
        for pattern, s in sorted(merged.items())
    ]


class AnomalyPoint(Point):
    baseline: float | None
    score: float | None
    anomaly: bool


class Anomalies(BaseModel):
    metric: str
    method: str = "rolling robust z-score (median and MAD of the previous points)"
    window: int
    threshold: float
    points: list[AnomalyPoint]


async def anomalies(
    engine: AsyncEngine,
    tenant: str,
    metric: Metric,
    rng: TimeRange,
    window: int = 60,
    threshold: float = 3.5,
    pattern: str | None = None,
    agent: str | None = None,
) -> Anomalies:
    series = await timeseries(engine, tenant, metric, rng, pattern, agent)
    known = [p for p in series.points if p.value is not None]
    judged = {
        j.index: j
        for j in robust_z_scores(
            [p.value for p in known if p.value is not None],
            window=window,
            threshold=threshold,
            min_history=min(10, window),
        )
    }
    points = []
    for i, point in enumerate(known):
        j = judged.get(i)
        points.append(
            AnomalyPoint(
                time=point.time,
                value=point.value,
                baseline=j.baseline if j else None,
                score=round(j.score, 3) if j and abs(j.score) != float("inf") else None,
                anomaly=bool(j and j.anomaly),
            )
        )
    return Anomalies(metric=metric, window=window, threshold=threshold, points=points)
