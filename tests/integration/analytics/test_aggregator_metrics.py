"""An aggregator's Prometheus series against the real broker and SQL: events counted and
skipped, windows published, and its lag per partition held, as `/metrics` serves them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from analytics.aggregator import Aggregator
from analytics.metrics import AggregatorCollector
from core.bus import EventBus
from core.settings import Settings
from tests.integration.analytics.test_aggregator import (
    FAST_GROUP,
    migrated,
    run_events,
    until,
)

pytestmark = pytest.mark.integration


async def test_the_aggregators_series_follow_what_it_read(
    make_settings: Callable[..., Settings],
) -> None:
    suffix = uuid.uuid4().hex[:8]
    settings = make_settings(AGGREGATOR_GROUP=f"agg-{suffix}", METRICS_TOPIC=f"metrics-{suffix}")
    async with migrated(settings) as engine:
        aggregator = Aggregator(settings, engine, "solo", FAST_GROUP)
        stop = asyncio.Event()
        task = asyncio.create_task(aggregator.run(stop))
        bus = EventBus.from_settings(settings)
        await bus.start()
        try:
            await until(lambda: len(aggregator.partitions()) == 3)
            sent = [e for i in range(5) for e in run_events("t", f"r{i}", datetime.now(UTC))]
            for event in [*sent, *sent[:4]]:  # the first run's events twice
                await bus.publish(event)
            await until(lambda: aggregator.counted == 20 and aggregator.skipped == 4)
            await until(lambda: aggregator.published_windows > 0)
            registry = CollectorRegistry()
            registry.register(AggregatorCollector(aggregator))
            text = generate_latest(registry).decode()
        finally:
            stop.set()
            await task
            await bus.stop()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("acc_aggregator_events_total", (("outcome", "counted"),))] == 20
    assert samples[("acc_aggregator_events_total", (("outcome", "skipped"),))] == 4
    assert samples[("acc_aggregator_windows_published_total", ())] >= 1
    lags = {
        dict(labels)["partition"]: v
        for (n, labels), v in samples.items()
        if n == "acc_aggregator_lag"
    }
    assert lags == {"0": 0, "1": 0, "2": 0}  # caught up on every partition it holds
