"""Comparisons over the rollups: a metric's window against a baseline window (regression),
and how two metrics move together (Pearson and Spearman correlation over aligned steps).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics import queries
from analytics.ranges import TimeRange


class Regression(BaseModel):
    metric: str
    start: datetime
    end: datetime
    baseline_start: datetime
    baseline_end: datetime
    current: float | None = Field(description="The metric over the current window")
    baseline: float | None = Field(description="The metric over the baseline window")
    change: float | None = Field(
        description="(current - baseline) / |baseline|: +0.25 is 25% higher; null when "
        "either is unknown or the baseline is 0"
    )


def whole(start: datetime, end: datetime) -> TimeRange:
    """A range read as one value: a single step as long as the range (none when empty)."""
    return TimeRange(start, end, max(end - start, timedelta(minutes=1)))


async def value_over(
    engine: AsyncEngine,
    tenant: str,
    metric: queries.Metric,
    rng: TimeRange,
    pattern: str | None = None,
    agent: str | None = None,
) -> float | None:
    """The metric over the whole range: counts summed, ratios and percentiles over the
    range's sums and histogram (not an average of per-minute values)."""
    series = await queries.timeseries(
        engine, tenant, metric, whole(rng.start, rng.end), pattern, agent
    )
    return series.points[0].value if series.points else None


def relative_change(current: float | None, baseline: float | None) -> float | None:
    if current is None or baseline is None or baseline == 0:
        return None
    return (current - baseline) / abs(baseline)


async def regression(
    engine: AsyncEngine,
    tenant: str,
    metric: queries.Metric,
    current: TimeRange,
    baseline: TimeRange,
    pattern: str | None = None,
    agent: str | None = None,
) -> Regression:
    now = await value_over(engine, tenant, metric, current, pattern, agent)
    before = await value_over(engine, tenant, metric, baseline, pattern, agent)
    return Regression(
        metric=metric,
        start=current.start,
        end=current.end,
        baseline_start=baseline.start,
        baseline_end=baseline.end,
        current=now,
        baseline=before,
        change=None if (c := relative_change(now, before)) is None else round(c, 6),
    )


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r; None with fewer than 3 pairs or when either side is constant."""
    n = len(xs)
    if n < 3:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson's r of the ranks (ties averaged)."""
    return pearson(ranks(xs), ranks(ys))


class Pair(BaseModel):
    time: datetime
    x: float
    y: float


class Correlation(BaseModel):
    x: str
    y: str
    start: datetime
    end: datetime
    step_seconds: int
    n: int = Field(description="Steps where both metrics have a value")
    pearson: float | None = Field(description="Linear correlation, -1..1")
    spearman: float | None = Field(description="Rank (monotonic) correlation, -1..1")
    pairs: list[Pair]


async def correlation(
    engine: AsyncEngine,
    tenant: str,
    x: queries.Metric,
    y: queries.Metric,
    rng: TimeRange,
    pattern: str | None = None,
    agent: str | None = None,
) -> Correlation:
    xs, ys = await asyncio.gather(  # on two connections at once
        queries.timeseries(engine, tenant, x, rng, pattern, agent),
        queries.timeseries(engine, tenant, y, rng, pattern, agent),
    )
    pairs = [
        Pair(time=a.time, x=a.value, y=b.value)
        for a, b in zip(xs.points, ys.points, strict=True)
        if a.value is not None and b.value is not None
    ]
    left, right = [p.x for p in pairs], [p.y for p in pairs]
    r, rho = pearson(left, right), spearman(left, right)
    return Correlation(
        x=x,
        y=y,
        start=rng.start,
        end=rng.end,
        step_seconds=int(rng.step.total_seconds()),
        n=len(pairs),
        pearson=None if r is None else round(r, 6),
        spearman=None if rho is None else round(rho, 6),
        pairs=pairs,
    )
