"""The event bus against a real Kafka-protocol broker (Tansu)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from core.bus import EventBus, build_consumer, ensure_topics
from core.events import Event
from core.settings import load_settings

pytestmark = pytest.mark.integration


async def test_events_reach_a_consumer_group_in_order_per_run(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = f"bus-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [topic])
    await ensure_topics(kafka_bootstrap, [topic])  # creating twice is harmless
    bus = EventBus.from_settings(
        load_settings(KAFKA_BOOTSTRAP=kafka_bootstrap, EVENTS_TOPIC=topic, DATA_DIR=tmp_path)
    )
    await bus.start()
    sent = [
        Event(type="step.completed", source="test", run_id=f"run-{i % 3}", data={"seq": i})
        for i in range(30)
    ]
    for event in sent:
        await bus.publish(event)
    await bus.stop()
    assert bus.published == 30 and bus.failed == 0

    consumer = build_consumer(kafka_bootstrap, topic, group_id=f"g-{uuid.uuid4().hex[:6]}")
    await consumer.start()
    got: list[Event] = []
    try:
        async with asyncio.timeout(20):
            while len(got) < 30:
                batch = await consumer.getmany(timeout_ms=200)
                got += [Event.decode(m.value) for msgs in batch.values() for m in msgs]
    finally:
        await consumer.stop()
    assert {e.id for e in got} == {e.id for e in sent}
    for run in ("run-0", "run-1", "run-2"):
        seqs = [e.data["seq"] for e in got if e.run_id == run]
        assert seqs == sorted(seqs)


async def test_a_broker_that_is_down_does_not_raise_into_the_caller(tmp_path: Path) -> None:
    bus = EventBus.from_settings(load_settings(KAFKA_BOOTSTRAP="127.0.0.1:1", DATA_DIR=tmp_path))
    bus._queue_timeout = 0.2
    await bus.publish(Event(type="run.started", source="test", run_id="r"))
    assert bus.failed == 1 and bus.published == 0 and bus.backlog() == 1
    await bus.stop()
