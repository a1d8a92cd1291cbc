"""The aggregator (`acc aggregator`): a consumer group on the events topic that keeps the
runs projection and the 1-minute rollups in SQL and publishes 1-second windows to the
metrics topic.

Each batch the broker hands over is counted in one SQL transaction (`analytics/sink.py`:
idempotent on event id) and only then are its offsets committed, so an aggregator that
dies re-reads at most its last two batches (one written, the next read and decoded
meanwhile), which the sink recognises. Several aggregators
share the topic's partitions (the consumer group assigns and rebalances them); the
events of one run stay on one partition, so one aggregator at a time folds them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from prometheus_client import REGISTRY
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics import alerting
from analytics.channels import Notifier
from analytics.heartbeats import beat
from analytics.metrics import AggregatorCollector
from analytics.sink import EventSink
from analytics.windows import Windows
from core.bus import build_consumer, ensure_topics
from core.events import Event
from core.settings import Settings
from core.transport import kafka_options

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.05
HEARTBEAT_SECONDS = 2.0
MAX_RECORDS = 5000


class Aggregator:
    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        member: str | None = None,
        consumer_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._sink = EventSink(engine)
        self.member = member or f"{socket.gethostname()}-{os.getpid()}"
        self._windows = Windows(self.member)
        self._consumer_options = dict(consumer_options or {})
        self.alert_check_seconds = alerting.CHECK_SECONDS
        self.counted = 0  # events this aggregator counted (new ones only)
        self.skipped = 0  # redelivered events the sink had counted already
        self.unreadable = 0
        self.published_windows = 0
        self.alerts_opened = 0
        self.lag: dict[int, int] = {}  # partition -> events behind, after the last batch

    async def run(self, stop: asyncio.Event) -> None:
        settings, options = self._settings, kafka_options(self._settings)
        await ensure_topics(
            settings.kafka_bootstrap, [settings.EVENTS_TOPIC, settings.METRICS_TOPIC], **options
        )
        consumer = build_consumer(
            settings.kafka_bootstrap,
            settings.EVENTS_TOPIC,
            group_id=settings.AGGREGATOR_GROUP,
            auto_commit=False,
            **options,
            **self._consumer_options,
        )
        producer = AIOKafkaProducer(
            **options, bootstrap_servers=settings.kafka_bootstrap, linger_ms=2, acks=1
        )
        await producer.start()
        await consumer.start()
        self.consumer = consumer
        flusher = asyncio.create_task(self._flush(producer, stop))
        log.info("aggregator %s reading %s", self.member, settings.EVENTS_TOPIC)
        writing: asyncio.Task[None] | None = None  # the batch being written, then committed
        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=100, max_records=MAX_RECORDS)
                records = [record for records in batch.values() for record in records]
                self._measure_lag(consumer, batch)
                if not records:
                    continue
                events = self._decode(records)  # while the previous batch is written
                offsets = {tp: rs[-1].offset + 1 for tp, rs in batch.items() if rs}
                if writing is not None:
                    await writing
                writing = asyncio.create_task(self._count_and_commit(events, offsets, stop))
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writing
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            await self._publish(producer)  # what is left, even if not a full second
            with contextlib.suppress(KafkaError):
                await consumer.stop()
            await producer.stop()

    def partitions(self) -> list[int]:
        consumer = getattr(self, "consumer", None)
        return sorted(tp.partition for tp in consumer.assignment()) if consumer else []

    def _measure_lag(self, consumer: Any, batch: Mapping[Any, list[Any]]) -> None:
        """Events behind on each partition held: none on a partition that gave nothing."""
        lag = dict.fromkeys(self.partitions(), 0)
        for tp, records in batch.items():
            if records and (high := consumer.highwater(tp)) is not None:
                lag[tp.partition] = max(0, high - records[-1].offset - 1)
        self.lag = lag

    def _decode(self, records: list[Any]) -> list[Event]:
        events = []
        for record in records:
            try:
                event = Event.decode(record.value or b"")
            except ValueError:
                self.unreadable += 1
                continue
            if not event.type.startswith("alert."):  # alerts report on work, are none
                events.append(event)
        return events

    async def _count_and_commit(
        self, events: list[Event], offsets: dict[Any, int], stop: asyncio.Event
    ) -> None:
        """Count a batch in SQL, then commit its own offsets (not the consumer's position,
        which is already past the next batch). A commit refused during a rebalance is
        harmless: the new owner re-reads the batch and the sink finds it counted."""
        await self._count(events, stop)
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            log.info("aggregator could not commit offsets (%r): a rebalance", exc)

    async def _count(self, events: list[Event], stop: asyncio.Event) -> None:
        """Count a batch, retrying while SQL is unavailable (offsets wait meanwhile)."""
        while True:
            try:
                counted = await self._sink.apply(events)
                break
            except (SQLAlchemyError, OSError) as exc:
                log.warning("aggregator could not write its batch (%r): retrying", exc)
                if stop.is_set():
                    raise
                await asyncio.sleep(1)
        self.counted += len(counted)
        self.skipped += len(events) - len(counted)
        self._windows.add(counted)

    async def _flush(self, producer: AIOKafkaProducer, stop: asyncio.Event) -> None:
        """Publish closed windows and report in; the alert rules are checked beside, in a
        task of their own, so a slow check never holds a window back."""
        last_beat = 0.0
        loop = asyncio.get_running_loop()
        checks = asyncio.create_task(self._check_alerts(producer, stop))
        try:
            while not stop.is_set():
                await asyncio.sleep(FLUSH_SECONDS)
                try:
                    await self._publish(producer, datetime.now(UTC))
                    if loop.time() - last_beat >= HEARTBEAT_SECONDS:
                        await beat(self._engine, self.member, self.partitions(), self.counted)
                        last_beat = loop.time()
                except (KafkaError, SQLAlchemyError, OSError) as exc:
                    log.warning("aggregator flush failed: %r", exc)
        finally:
            checks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checks

    async def _check_alerts(self, producer: AIOKafkaProducer, stop: asyncio.Event) -> None:
        """On the aggregator that holds partition 0 (one in the group), check the alert
        rules every `alert_check_seconds`."""
        last_check = 0.0
        loop = asyncio.get_running_loop()
        async with httpx.AsyncClient() as http:
            notifier = Notifier(http, self._settings)
            while not stop.is_set():
                await asyncio.sleep(FLUSH_SECONDS)
                due = loop.time() - last_check >= self.alert_check_seconds
                if not due or 0 not in self.partitions():
                    continue
                last_check = loop.time()
                try:
                    self.alerts_opened += await alerting.evaluate(
                        self._engine, notifier, datetime.now(UTC), self._alert_publisher(producer)
                    )
                except (KafkaError, SQLAlchemyError, OSError) as exc:
                    log.warning("aggregator alert check failed: %r", exc)

    def _alert_publisher(self, producer: AIOKafkaProducer) -> alerting.Publish:
        """Alert events onto the events topic (the pool's `alerts` channel reads them)."""

        async def publish(event: Event) -> None:
            await producer.send_and_wait(
                self._settings.EVENTS_TOPIC, event.encode(), key=event.key()
            )

        return publish

    async def _publish(self, producer: AIOKafkaProducer, now: datetime | None = None) -> None:
        closed = self._windows.closed(now or datetime.max.replace(tzinfo=UTC))
        for window in closed:
            await producer.send(
                self._settings.METRICS_TOPIC,
                window.model_dump_json().encode(),
                key=window.tenant.encode(),
            )
        self.published_windows += len(closed)


async def serve(settings: Settings) -> None:
    """`acc aggregator`: run until SIGINT/SIGTERM."""
    import signal

    from core import db
    from core.redact import Redactor, redact_logs

    redact_logs(Redactor.of(settings))
    engine = db.create_engine(settings)
    await db.migrate(engine, settings.DATABASE_SCHEMA)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    aggregator = Aggregator(settings, engine)
    collector = AggregatorCollector(aggregator)
    REGISTRY.register(collector)  # on the health port's /metrics

    async def ready() -> str | None:
        if stop.is_set():
            return "draining: stopping after SIGTERM"
        return None if getattr(aggregator, "consumer", None) else "not consuming yet"

    try:
        async with contextlib.AsyncExitStack() as stack:
            if settings.HEALTH_PORT is not None:  # /healthz, /readyz, /metrics (core/health.py)
                from core.health import HealthServer

                health = HealthServer(settings.HEALTH_HOST, settings.HEALTH_PORT, ready)
                await stack.enter_async_context(health)
            await aggregator.run(stop)
    finally:
        REGISTRY.unregister(collector)
        await engine.dispose()
