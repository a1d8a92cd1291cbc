"""Hourly and daily rollups on real SQL: kept by the sink with the minutes (redelivery
included), equal to the minutes summed (`grains.rebuild` derives the same rows), and every
query answers from the coarse rows exactly what it answers from the minutes alone, for
ranges and steps on and off the hour and day edges."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics import grains, queries
from analytics.compare import whole
from analytics.grains import COARSE, DAY, HOUR, MINUTE
from analytics.ranges import TimeRange
from analytics.sink import EventSink
from core.events import Event
from core.settings import Settings
from tests.integration.analytics.test_aggregator import migrated

pytestmark = pytest.mark.integration

MIDNIGHT = datetime(2026, 11, 21, tzinfo=UTC)
M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
FIRST, LAST = MIDNIGHT - 6 * H, MIDNIGHT + 30 * H  # the events' span


def events(tenant: str) -> list[Event]:
    """A run every 9 to 23 minutes over 36 hours across a midnight, each with a step or
    two by one of two agents. Costs, qualities and durations are exact binary fractions,
    so sums in any order are equal to the last bit."""
    rng = random.Random(5)
    out: list[Event] = []
    at, n = FIRST, 0
    while at < LAST:
        n += 1
        base = {"source": "test", "tenant": tenant, "run_id": f"r{n}"}
        pattern = ("pipeline", "saga")[n % 2]
        out.append(Event(type="run.started", time=at, data={"pattern": pattern}, **base))
        t = at
        for s in range(rng.randint(1, 2)):
            step = {**base, "step": f"s{s}", "agent": ("llm:a", "shell")[rng.randint(0, 1)]}
            ms = rng.randint(20, 90_000)
            t += timedelta(milliseconds=ms)
            if rng.random() < 0.2:
                out.append(Event(type="step.failed", time=t, **step))
                continue
            out.append(
                Event(
                    type="step.completed",
                    time=t,
                    cost_usd=rng.randint(1, 64) / 64,
                    tokens=rng.randint(10, 900),
                    data={"duration_ms": ms},
                    **step,
                )
            )
        t = t.replace(microsecond=0) + timedelta(seconds=rng.randint(1, 400))
        ended = "run.failed" if rng.random() < 0.25 else "run.completed"
        data = {"quality": rng.randint(0, 8) / 8}
        out.append(Event(type=ended, time=t, data=data, **base))
        at += timedelta(minutes=rng.randint(9, 23), seconds=rng.randint(0, 59))
    return out


RANGES = [
    TimeRange(MIDNIGHT - 3 * H - 17 * M, MIDNIGHT + 26 * H + 13 * M, 6 * H),
    TimeRange(MIDNIGHT - 3 * H - 17 * M, MIDNIGHT + 26 * H + 13 * M, H),
    TimeRange(MIDNIGHT - 3 * H, MIDNIGHT + 27 * H, H),
    TimeRange(MIDNIGHT - 3 * H, MIDNIGHT + 27 * H, D),
    TimeRange(MIDNIGHT - 5 * H, MIDNIGHT + 29 * H, 2 * D),
    TimeRange(MIDNIGHT - 2 * H, MIDNIGHT + 4 * H, 15 * M),
    TimeRange(MIDNIGHT - 3 * H - 1 * M, MIDNIGHT + 3 * H, 7 * M),
    whole(MIDNIGHT - 5 * H - 3 * M, MIDNIGHT + 29 * H + 7 * M),
    whole(MIDNIGHT + 10 * H, MIDNIGHT + 12 * H),
]
METRICS: list[queries.Metric] = [
    "events",
    "runs_completed",
    "steps_failed",
    "cost_usd",
    "tokens",
    "completion_rate",
    "quality",
    "step_ms_avg",
    "run_ms_avg",
    "step_ms_p95",
    "run_ms_p50",
]


async def answers(engine: AsyncEngine, tenant: str) -> list[Any]:
    out: list[Any] = []
    for rng in RANGES:
        for metric in METRICS:
            out.append(await queries.timeseries(engine, tenant, metric, rng))
        out.append(await queries.timeseries(engine, tenant, "tokens", rng, agent="llm:a"))
        out.append(await queries.timeseries(engine, tenant, "step_ms_p90", rng, "saga"))
        for kind in ("step", "run"):
            out.append(await queries.durations(engine, tenant, kind, rng))
        out.append(await queries.agents(engine, tenant, rng))
        out.append(await queries.patterns(engine, tenant, rng))
    return out


async def coarse_rows(engine: AsyncEngine, tenant: str) -> list[list[tuple[Any, ...]]]:
    out = []
    async with engine.connect() as conn:
        for grain in COARSE:
            for table in (grain.rollups, grain.buckets):
                query = select(table).where(table.c.tenant == tenant)
                out.append(sorted(tuple(row) for row in (await conn.execute(query)).all()))
    return out


async def test_queries_answer_from_hours_and_days_what_the_minutes_answer(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = f"grains-{uuid.uuid4().hex[:6]}"
    batch = events(tenant)
    async with migrated(make_settings()) as engine:
        sink = EventSink(engine)
        for i in range(0, len(batch), 97):
            await sink.apply(batch[i : i + 97])
        assert await sink.apply(batch[200:400]) == []  # redelivered: counted once
        kept = await coarse_rows(engine, tenant)
        assert all(kept) and len(kept[2]) < len(kept[0])  # fewer days than hours

        used = {grain for rng in RANGES for grain in grains.plan(rng)}
        assert used == {DAY, HOUR, MINUTE}
        coarse = await answers(engine, tenant)
        monkeypatch.setattr(queries, "MAX_RANGES", 1)  # whole spans, filtered here
        monkeypatch.setattr(queries, "COARSE_PIECES", 0)
        spans = await answers(engine, tenant)
        monkeypatch.setattr(
            queries, "plan", lambda rng: {MINUTE: [(rng.start, rng.end)]} if rng.steps() else {}
        )
        minutes = await answers(engine, tenant)
        assert sum(p.value or 0 for p in minutes[0].points) == len(
            [e for e in batch if MIDNIGHT - 3 * H - 17 * M <= e.time < MIDNIGHT + 26 * H + 13 * M]
        )

        async with engine.begin() as conn:
            await grains.rebuild(conn, tenant)
        rebuilt = await coarse_rows(engine, tenant)
    for i, (a, b) in enumerate(zip(coarse, minutes, strict=True)):
        assert a == b, i
    assert spans == minutes
    assert rebuilt == kept
