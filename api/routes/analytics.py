"""`/v1/analytics`: what the aggregator's rollups say about the caller's tenant over a time
range (a preset, or start and end), as time series, duration percentiles, agent
efficiency, pattern summaries, anomalies, regressions against a baseline window and
correlations between two metrics (docs/ANALYTICS.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from analytics import compare, queries, ranges
from analytics.fold import minute_of
from api.deps import EngineDep
from api.security import Reader
from core.jsontypes import Iso8601

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])
RangeQuery = Annotated[
    ranges.Preset | None,
    Query(
        alias="range",
        description="15m, 1h, 24h, 7d or 30d (default 1h), ending at `end`; with `start` "
        "it only picks the step",
    ),
]
StartQuery = Annotated[
    datetime | None,
    Iso8601,
    Query(
        description="Custom range start (ISO 8601); at or after `end` the range is empty, "
        "and a range keeps at most its last 400 days"
    ),
]
EndQuery = Annotated[
    datetime | None,
    Iso8601,
    Query(description="Custom range end (ISO 8601, default now)"),
]
StepQuery = Annotated[
    int | None,
    Query(
        ge=60,
        le=ranges.MAX_RANGE // timedelta(seconds=1),
        multiple_of=60,
        description="Seconds per point, whole minutes (default by range); grows to keep at "
        "most 2000 points",
    ),
]
PatternQuery = Annotated[str | None, Query(max_length=40, description="Only this pattern")]
AgentQuery = Annotated[
    str | None, Query(max_length=200, description="Only this agent, e.g. llm:gpt-4o")
]


@router.get("/timeseries", operation_id="analytics-timeseries")
async def timeseries(
    caller: Reader,
    engine: EngineDep,
    metric: queries.Metric = "runs_completed",
    range_: RangeQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    step: StepQuery = None,
    pattern: PatternQuery = None,
    agent: AgentQuery = None,
) -> queries.Series:
    """One metric over time: counts (events, runs_*, steps_*, tokens, cost_usd) per step,
    ratios (completion_rate, step_success_rate, quality, step_ms_avg, run_ms_avg,
    cost_per_run; null where nothing ended) or duration percentiles (step_ms_p50..p99,
    run_ms_p50..p99; null where nothing ended). Filter by pattern or agent for trends."""
    rng = ranges.resolve(range_, start, end, step)
    return await queries.timeseries(engine, caller.tenant, metric, rng, pattern, agent)


@router.get("/durations", operation_id="analytics-durations")
async def durations(
    caller: Reader,
    engine: EngineDep,
    kind: queries.DurationKind = "step",
    range_: RangeQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    pattern: PatternQuery = None,
    agent: AgentQuery = None,
) -> queries.Durations:
    """Step (or run) durations: p50, p90, p95, p99 and the histogram, from log-spaced
    buckets (each about 19% wide, so percentiles are within about 9%)."""
    rng = ranges.resolve(range_, start, end)
    return await queries.durations(engine, caller.tenant, kind, rng, pattern, agent)


@router.get("/agents", operation_id="analytics-agents")
async def agents(
    caller: Reader,
    engine: EngineDep,
    range_: RangeQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    pattern: PatternQuery = None,
) -> list[queries.AgentEfficiency]:
    """Efficiency by agent (and its backend), best first: score = success rate x (cheapest
    cost per successful step / this agent's) x (fastest mean step time / this agent's)."""
    rng = ranges.resolve(range_, start, end)
    return await queries.agents(engine, caller.tenant, rng, pattern)


@router.get("/patterns", operation_id="analytics-patterns")
async def patterns(
    caller: Reader,
    engine: EngineDep,
    range_: RangeQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
) -> list[queries.PatternSummary]:
    """Per pattern: runs, completion rate, cost per run, quality, mean run time, and
    coordination efficiency (the share of step attempts that succeeded)."""
    rng = ranges.resolve(range_, start, end)
    return await queries.patterns(engine, caller.tenant, rng)


@router.get("/anomalies", operation_id="analytics-anomalies")
async def anomalies(
    caller: Reader,
    engine: EngineDep,
    metric: queries.Metric = "runs_failed",
    range_: RangeQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    step: StepQuery = None,
    window: Annotated[int, Query(ge=5, le=1000, description="Points of baseline")] = 60,
    threshold: Annotated[float, Query(gt=0, le=100, description="|modified z| above")] = 3.5,
    pattern: PatternQuery = None,
    agent: AgentQuery = None,
) -> queries.Anomalies:
    """The metric's points with their rolling robust z-score (median and MAD of the
    `window` points before each); `anomaly` where |z| > threshold. About 0.2% of points
    of pure noise are flagged with the defaults."""
    rng = ranges.resolve(range_, start, end, step)
    return await queries.anomalies(
        engine, caller.tenant, metric, rng, window, threshold, pattern, agent
    )


@router.get("/regression", operation_id="analytics-regression")
async def regression(
    caller: Reader,
    engine: EngineDep,
    metric: queries.Metric = "step_ms_p95",
    range_: RangeQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    baseline_start: Annotated[
        datetime | None,
        Iso8601,
        Query(description="Baseline start (default: the range's length before its end)"),
    ] = None,
    baseline_end: Annotated[
        datetime | None,
        Iso8601,
        Query(description="Baseline end (default: the range's start)"),
    ] = None,
    pattern: PatternQuery = None,
    agent: AgentQuery = None,
) -> compare.Regression:
    """The metric over the range against the same metric over a baseline window:
    `change = (current - baseline) / |baseline|` (e.g. p95 step time, cost per run or
    quality; alert rules of kind `regression` use the same comparison)."""
    rng = ranges.resolve(range_, start, end)
    span = rng.end - rng.start
    if baseline_start is None:  # as long as the range, ending at baseline_end or its start
        base_end = minute_of(baseline_end or rng.start)
        baseline = compare.whole(base_end - span, base_end)
    else:
        base = ranges.resolve(None, baseline_start, baseline_end or rng.start)
        baseline = compare.whole(base.start, base.end)
    return await compare.regression(
        engine, caller.tenant, metric, compare.whole(rng.start, rng.end), baseline, pattern, agent
    )


@router.get("/correlation", operation_id="analytics-correlation")
async def correlation(
    caller: Reader,
    engine: EngineDep,
    x: queries.Metric,
    y: queries.Metric,
    range_: RangeQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    step: StepQuery = None,
    pattern: PatternQuery = None,
    agent: AgentQuery = None,
) -> compare.Correlation:
    """How two metrics move together over the range's steps (both with a value): Pearson's
    r (linear) and Spearman's rho (rank, ties averaged), each -1..1, null with fewer than
    3 steps or when a metric is constant (a metric with itself: 1). E.g. x=tokens,
    y=step_ms_p95 per 15 min."""
    rng = ranges.resolve(range_, start, end, step)
    return await compare.correlation(engine, caller.tenant, x, y, rng, pattern, agent)
