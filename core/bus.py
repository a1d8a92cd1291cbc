"""The event bus: one aiokafka producer per process, built at start-up and injected.

Delivery is at-least-once and never blocks a run: publishing waits only until the
event is queued in the producer, and a broker that is down is logged and counted,
not raised into the agent step that emitted the event. Consumers must be idempotent
(events carry a unique `id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from core.events import Event
from core.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 3


class EventBus:
    """Publishes `Event`s to the events topic, keyed by run id."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, queue_timeout: float = 1.0):
        self._producer = producer
        self.topic = topic
        self._queue_timeout = queue_timeout
        self.published = 0
        self.failed = 0
        self._started = False

    @classmethod
    def from_settings(cls, settings: Settings) -> EventBus:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id="acc",
            linger_ms=2,
            acks=1,
            request_timeout_ms=5000,
        )
        return cls(producer, settings.EVENTS_TOPIC)

    async def start(self) -> None:
        await self._producer.start()
        self._started = True

    async def start_or_degrade(self) -> None:
        """Start, or log and carry on without events: a broker that is down must not stop
        the process (runs go on; their events are counted as lost)."""
        try:
            await self._producer.start()
            self._started = True
        except KafkaError as exc:
            log.warning("event bus unavailable at start (%r); events will be dropped", exc)
            await self._producer.stop()

    async def stop(self) -> None:
        if not self._started:
            return
        try:
            await self._producer.flush()
        finally:
            await self._producer.stop()

    async def publish(self, event: Event) -> None:
        if not self._started:
            self._record_failure(event, None)
            return
        try:
            delivery = await asyncio.wait_for(
                self._producer.send(self.topic, event.encode(), key=event.key()),
                self._queue_timeout,
            )
        except (KafkaError, TimeoutError) as exc:
            self._record_failure(event, exc)
            return
        delivery.add_done_callback(lambda fut: self._delivered(event, fut))

    def _delivered(self, event: Event, fut: asyncio.Future[object]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            self._record_failure(event, fut.exception())
        else:
            self.published += 1

    def _record_failure(self, event: Event, exc: BaseException | None) -> None:
        self.failed += 1
        log.warning("event %s (%s) not published: %r", event.id, event.type, exc)


async def ensure_topics(
    bootstrap: str, topics: Iterable[str], partitions: int = DEFAULT_PARTITIONS
) -> None:
    """Create topics that do not exist yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(name=t, num_partitions=partitions, replication_factor=1)
            for t in topics
            if t not in existing
        ]
        if new:
            # Another process may create it between list and create.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
    finally:
        await admin.close()


def build_consumer(
    bootstrap: str, *topics: str, group_id: str | None, auto_commit: bool = True
) -> AIOKafkaConsumer:
    """A consumer tuned for low latency (fetch_max_wait_ms=5 instead of 500)."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=auto_commit and group_id is not None,
        fetch_max_wait_ms=5,
    )
