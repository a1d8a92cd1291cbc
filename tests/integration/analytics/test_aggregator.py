"""The aggregator against the real broker and SQL: partitions shared by two aggregators
and rebalanced when one stops, redelivered events counted once, the runs projection
behind `GET /v1/runs` (tenant-filtered), and 1-second windows on the metrics topic."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics import projection
from analytics.aggregator import Aggregator
from analytics.sink import EventSink, table_of
from analytics.tables import DailyRollup, DurationBucket, HourlyRollup, Rollup
from analytics.windows import WindowMetrics
from core import db
from core.bus import EventBus, build_consumer
from core.events import Event
from core.settings import Settings
from tests.conftest import api_client

pytestmark = pytest.mark.integration
FAST_GROUP = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 300}


def run_events(tenant: str, run_id: str, at: datetime) -> list[Event]:
    """A run's life: started, one step, completed, a second later."""
    base = {"source": "test", "tenant": tenant, "run_id": run_id}
    step = {**base, "step": "s", "agent": "llm:gpt-4o"}
    return [
        Event(type="run.started", time=at, data={"pattern": "pipeline", "name": "n"}, **base),
        Event(type="step.started", time=at, **step),
        Event(
            type="step.completed",
            time=at + timedelta(milliseconds=400),
            cost_usd=0.01,
            tokens=100,
            data={"duration_ms": 400.0},
            **step,
        ),
        Event(
            type="run.completed",
            time=at + timedelta(seconds=1),
            data={"pattern": "pipeline", "name": "n", "quality": 0.8},
            **base,
        ),
    ]


async def totals(engine: AsyncEngine, tenant: str, model: object = Rollup) -> dict[str, float]:
    table = table_of(model)
    columns = ("events", "runs_started", "runs_completed", "steps_completed", "tokens")
    query = select(*(func.coalesce(func.sum(table.c[c]), 0) for c in columns)).where(
        table.c.tenant == tenant
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).one()
    return dict(zip(columns, map(float, row), strict=True))


@asynccontextmanager
async def migrated(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(settings)
    await db.migrate(engine, settings.DATABASE_SCHEMA)
    try:
        yield engine
    finally:
        await engine.dispose()


async def until(condition: Callable[[], object], timeout: float = 30) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the condition did not hold in time")


async def test_the_sink_counts_a_redelivered_batch_once(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    async with migrated(settings) as engine:
        sink = EventSink(engine)
        events = run_events("t1", "r1", datetime.now(UTC)) + run_events(
            "t1", "r2", datetime.now(UTC)
        )
        assert len(await sink.apply(events)) == 8
        once = await totals(engine, "t1")
        # The same batch again (a consumer that died before committing), and half of it
        # mixed with a new run's events.
        assert await sink.apply(events) == []
        more = run_events("t1", "r3", datetime.now(UTC))
        assert [c.event.id for c in await sink.apply(events[:4] + more)] == [e.id for e in more]
        again = await totals(engine, "t1")
        # The hourly and daily rollups, written in the same transactions, count the same.
        coarse = [await totals(engine, "t1", model) for model in (HourlyRollup, DailyRollup)]
        records = await projection.list_runs(engine, "t1")
        table = table_of(DurationBucket)
        async with engine.connect() as conn:
            buckets = await conn.scalar(select(func.sum(table.c["count"])))
    assert once == {
        "events": 8,
        "runs_started": 2,
        "runs_completed": 2,
        "steps_completed": 2,
        "tokens": 200,
    }
    assert again["events"] == 12 and again["runs_completed"] == 3 and again["tokens"] == 300
    assert coarse == [again, again]
    assert buckets == 6  # 3 step and 3 run durations, each once
    assert {r.run_id for r in records} == {"r1", "r2", "r3"}
    assert all(r.status == "completed" and r.tokens == 100 and r.quality == 0.8 for r in records)


async def test_two_aggregators_share_partitions_rebalance_and_count_each_event_once(
    make_settings: Callable[..., Settings],
) -> None:
    suffix = uuid.uuid4().hex[:8]
    settings = make_settings(AGGREGATOR_GROUP=f"agg-{suffix}", METRICS_TOPIC=f"metrics-{suffix}")
    tenant, other = f"acme-{suffix}", f"other-{suffix}"
    async with migrated(settings) as engine:
        first = Aggregator(settings, engine, "first", FAST_GROUP)
        second = Aggregator(settings, engine, "second", FAST_GROUP)
        stop_first, stop_second = asyncio.Event(), asyncio.Event()
        tasks = [
            asyncio.create_task(first.run(stop_first)),
            asyncio.create_task(second.run(stop_second)),
        ]
        bus = EventBus.from_settings(settings)
        await bus.start()
        try:
            await until(lambda: len(first.partitions()) + len(second.partitions()) == 3)
            assert first.partitions() and second.partitions()  # shared
            assert not set(first.partitions()) & set(second.partitions())

            now = datetime.now(UTC)
            sent = [e for i in range(30) for e in run_events(tenant, f"run-{i}", now)]
            for event in sent:
                await bus.publish(event)
            for event in sent[:10]:  # delivered twice
                await bus.publish(event)
            await until(lambda: first.counted + second.counted >= 120)
            await until(lambda: first.skipped + second.skipped >= 10)
            assert first.counted and second.counted  # both did part of the work

            stop_second.set()  # one leaves: the other takes its partitions over
            await tasks[1]
            await until(lambda: first.partitions() == [0, 1, 2])
            later = [e for i in range(30, 40) for e in run_events(tenant, f"run-{i}", now)]
            for event in later:
                await bus.publish(event)
            await until(lambda: first.counted + second.counted >= 160)
            await asyncio.sleep(0.5)  # nothing more arrives
            assert first.counted + second.counted == 160
            counted = await totals(engine, tenant)

            async with api_client(settings, ("runs:read",), tenant) as http:
                listed = await http.get("/v1/runs", params={"status": "completed", "limit": 1000})
            async with api_client(settings, ("runs:read",), other) as http:
                foreign = await http.get("/v1/runs")
        finally:
            stop_first.set()
            stop_second.set()
            await asyncio.gather(*tasks)
            await bus.stop()
    assert counted == {
        "events": 160,
        "runs_started": 40,
        "runs_completed": 40,
        "steps_completed": 40,
        "tokens": 4000,
    }
    assert listed.headers["X-Acc-List-Source"] == "projection"
    assert {r["id"] for r in listed.json()} == {f"run-{i}" for i in range(40)}
    assert all(r["tenant"] == tenant and r["pattern"] == "pipeline" for r in listed.json())
    assert foreign.json() == [] and foreign.headers["X-Acc-List-Source"] == "projection"

    # Live subscribers: the 1-second windows on the metrics topic add up to the same.
    consumer = build_consumer(settings.kafka_bootstrap, settings.METRICS_TOPIC, group_id=None)
    await consumer.start()
    windows: list[WindowMetrics] = []
    try:
        async with asyncio.timeout(20):
            while sum(w.runs_completed for w in windows) < 40:
                batch = await consumer.getmany(timeout_ms=200)
                windows += [
                    WindowMetrics.model_validate_json(m.value)
                    for msgs in batch.values()
                    for m in msgs
                ]
    finally:
        await consumer.stop()
    ours = [w for w in windows if w.tenant == tenant]
    assert sum(w.runs_completed for w in ours) == 40 and sum(w.tokens for w in ours) == 4000
    assert {w.member for w in ours} <= {"first", "second"}
    assert all(w.by_agent["llm:gpt-4o"].steps_completed for w in ours if w.steps_completed)
    durations = [w.step_duration_ms["p95"] for w in ours if w.step_duration_ms]
    assert durations and all(360 < ms < 440 for ms in durations)  # 400 ms, within a bucket


async def test_each_batch_commits_its_own_offsets_so_a_restart_reads_nothing_again(
    make_settings: Callable[..., Settings],
) -> None:
    """Batches are written while the next is read: the offsets committed are those of the
    batches written, up to the last, so an aggregator of the same group that starts after
    it stopped is handed nothing again (and nothing is lost)."""
    suffix = uuid.uuid4().hex[:8]
    settings = make_settings(AGGREGATOR_GROUP=f"agg-{suffix}", METRICS_TOPIC=f"metrics-{suffix}")
    tenant = f"acme-{suffix}"
    async with migrated(settings) as engine:
        bus = EventBus.from_settings(settings)
        await bus.start()
        now = datetime.now(UTC)
        try:
            for i in range(300):  # 1,200 events: several batches
                for event in run_events(tenant, f"run-{i}", now):
                    await bus.publish(event)
        finally:
            await bus.stop()
        first = Aggregator(settings, engine, "first", FAST_GROUP)
        stop = asyncio.Event()
        task = asyncio.create_task(first.run(stop))
        await until(lambda: first.counted >= 1200)
        stop.set()
        await task
        again = Aggregator(settings, engine, "again", FAST_GROUP)
        stop = asyncio.Event()
        task = asyncio.create_task(again.run(stop))
        await until(lambda: again.partitions() == [0, 1, 2])
        await asyncio.sleep(1.0)  # what it would be handed again arrives meanwhile
        stop.set()
        await task
        counted = await totals(engine, tenant)
    assert first.counted == 1200 and first.skipped == 0
    assert again.counted == 0 and again.skipped == 0
    assert counted["events"] == 1200 and counted["runs_completed"] == 300


async def test_a_slow_alert_check_does_not_hold_the_windows_back(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules are checked in a task of their own: a check that hangs (a notification
    endpoint that never answers) leaves the 1-second windows flowing."""
    from analytics import alerting

    suffix = uuid.uuid4().hex[:8]
    settings = make_settings(AGGREGATOR_GROUP=f"agg-{suffix}", METRICS_TOPIC=f"metrics-{suffix}")
    tenant = f"acme-{suffix}"
    hanging = asyncio.Event()
    released = asyncio.Event()

    async def hangs(*_: object) -> int:
        hanging.set()
        await released.wait()
        return 0

    monkeypatch.setattr(alerting, "evaluate", hangs)
    async with migrated(settings) as engine:
        aggregator = Aggregator(settings, engine, "slow-checks", FAST_GROUP)
        aggregator.alert_check_seconds = 0.1
        stop = asyncio.Event()
        task = asyncio.create_task(aggregator.run(stop))
        try:
            await until(lambda: aggregator.partitions() == [0, 1, 2])
            await asyncio.wait_for(hanging.wait(), 30)  # a check is under way, and stays
            bus = EventBus.from_settings(settings)
            await bus.start()
            try:
                for event in run_events(tenant, "run-1", datetime.now(UTC)):
                    await bus.publish(event)
            finally:
                await bus.stop()
            await until(lambda: aggregator.published_windows > 0)
            assert not released.is_set()  # published while the check still hung
        finally:
            released.set()
            stop.set()
            await task
