"""The event bus: one aiokafka producer per process, built at start-up and injected.

Delivery is at-least-once and never blocks a run: publishing waits only until the
event is queued in the producer. An event the broker does not take (it is down, or lost
its topic) goes to the outbox (`core/outbox.py`, a bounded SQLite file in the data dir)
and is sent again, in publication order, once the broker answers; nothing is raised into
the agent step that emitted it. Consumers must be idempotent (events carry a unique `id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from core.events import Event, current_trace_id
from core.outbox import Outbox, Sequence
from core.redact import Redactor
from core.settings import Settings
from core.transport import kafka_options

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 3
DRAIN_BATCH = 500


class EventBus:
    """Publishes `Event`s to the events topic, keyed by run id.

    The topics are created before the producer starts. A watcher keeps them whole: every
    `CHECK_SECONDS` it connects the producer if the broker was down at start, and
    recreates a topic the broker lost (the in-memory dev broker loses all on restart;
    what it makes up itself on the first produce to a lost topic cannot be read back),
    holding publishing meanwhile. An event counts as published only once the broker
    acknowledged it; until then it is in flight or in the outbox. While the outbox holds
    anything, new events queue behind it, so a run's events reach the topic in order.
    """

    CHECK_SECONDS = 1.0

    def __init__(
        self,
        producer_factory: Callable[[], AIOKafkaProducer],
        topic: str,
        bootstrap: str,
        queue_timeout: float = 1.0,
        also_keep: Iterable[str] = (),
        redactor: Redactor | None = None,
        client_options: Mapping[str, Any] | None = None,
        outbox: Outbox | None = None,
    ):
        self._new_producer = producer_factory
        self._outbox = outbox
        self._sequence = Sequence()
        self._holding = False  # the outbox is not empty: new events queue behind it
        self._holds: set[asyncio.Task[None]] = set()  # events being written to the outbox
        self._redactor = redactor
        self._producer: AIOKafkaProducer | None = None
        self.topic, self._bootstrap = topic, bootstrap
        self._options = dict(client_options or {})  # TLS and SASL (core/transport.py)
        self.topics = [topic, *also_keep]  # kept whole by the watcher
        self._queue_timeout = queue_timeout
        self.published = 0  # acknowledged by the broker (resent ones included)
        self.failed = 0  # not acknowledged at the first attempt: kept in the outbox or dropped
        self.resent = 0  # sent from the outbox
        self.dropped = 0  # lost by this process: no outbox, or the outbox's bound was hit
        self.repairs = 0
        self._watcher: asyncio.Task[None] | None = None
        self._open = asyncio.Event()
        self._open.set()

    @classmethod
    def from_settings(cls, settings: Settings, also_keep: Iterable[str] = ()) -> EventBus:
        options = kafka_options(settings)

        def producer() -> AIOKafkaProducer:
            return AIOKafkaProducer(
                **options,
                bootstrap_servers=settings.kafka_bootstrap,
                client_id="acc",
                linger_ms=2,
                acks=1,
                request_timeout_ms=5000,
            )

        return cls(
            producer,
            settings.EVENTS_TOPIC,
            settings.kafka_bootstrap,
            also_keep=also_keep,
            redactor=Redactor.of(settings),
            client_options=options,
            outbox=(
                Outbox(settings.data_dir / "outbox.db", settings.OUTBOX_MAX_EVENTS)
                if settings.OUTBOX_MAX_EVENTS > 0
                else None
            ),
        )

    @property
    def connected(self) -> bool:
        return self._producer is not None

    def backlog(self) -> int:
        """Events waiting in the outbox (of every process sharing the data dir)."""
        return self._outbox.backlog() if self._outbox is not None else 0

    def outbox_dropped(self) -> int:
        """Events the outbox dropped at its bound (every process sharing the data dir)."""
        return self._outbox.dropped() if self._outbox is not None else 0

    async def start(self) -> None:
        """Start, or raise when the broker cannot be reached."""
        await self._connect()
        self._watch()

    async def start_or_degrade(self) -> None:
        """Start, or log and carry on without events until the broker answers: a broker
        that is down must not stop the process (runs go on; their events are counted as
        lost meanwhile)."""
        try:
            await self._connect()
        except (KafkaError, OSError) as exc:
            log.warning("event bus unavailable at start (%r); retrying in the background", exc)
        self._watch()

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        producer, self._producer = self._producer, None
        try:
            if producer is not None:
                try:
                    with contextlib.suppress(KafkaError):
                        await producer.flush()
                finally:
                    await producer.stop()
        finally:
            # What the broker refused while flushing is being written to the outbox.
            if self._holds:
                await asyncio.gather(*self._holds, return_exceptions=True)
            if self._outbox is not None:
                self._outbox.close()

    async def ping(self) -> None:
        """Raise unless the producer is connected and the broker answers (readiness)."""
        if self._producer is None:
            raise ConnectionError(f"no connection to the broker at {self._bootstrap}")
        await asyncio.wait_for(self._producer.partitions_for(self.topic), 3)

    async def publish(self, event: Event, *, topic: str | None = None) -> None:
        """Queue `event` on the events topic (or `topic`, one of those kept whole)."""
        if self._redactor is not None:
            event = event.model_copy(update={"data": self._redactor.data(event.data)})
        if event.trace_id is None and (trace_id := current_trace_id()) is not None:
            event = event.model_copy(update={"trace_id": trace_id})
        seq = self._sequence.next()
        if not self._open.is_set():  # the watcher is recreating a lost topic: a moment
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._open.wait(), self._queue_timeout)
        if self._producer is None or not self._open.is_set() or self._holding:
            await self._hold(event, seq, None)
            return
        try:
            delivery = await asyncio.wait_for(
                self._producer.send(topic or self.topic, event.encode(), key=event.key()),
                self._queue_timeout,
            )
        except (KafkaError, TimeoutError) as exc:
            await self._hold(event, seq, exc)
            return
        delivery.add_done_callback(lambda fut: self._delivered(event, seq, fut))

    async def _connect(self) -> None:
        await ensure_topics(self._bootstrap, self.topics, **self._options)
        producer = self._new_producer()
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer

    def _watch(self) -> None:
        # Events an earlier process left in the outbox go first.
        self._holding = self._holding or self.backlog() > 0
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._keep_whole())

    async def _keep_whole(self) -> None:
        admin: AIOKafkaAdminClient | None = None
        while True:
            await asyncio.sleep(self.CHECK_SECONDS)
            try:
                if self._producer is None:
                    await self._connect()
                    log.info("event bus connected to %s", self._bootstrap)
                    continue
                if admin is None:
                    admin = AIOKafkaAdminClient(
                        **self._options, bootstrap_servers=self._bootstrap, request_timeout_ms=2000
                    )
                    await admin.start()
                present = await asyncio.wait_for(admin.list_topics(), 3)
                if missing := sorted(set(self.topics) - set(present)):
                    await self._recreate(missing)
                await self._drain()
            except (KafkaError, OSError, TimeoutError) as exc:
                log.debug("event bus check failed: %r", exc)
                if admin is not None:
                    with contextlib.suppress(Exception):
                        await admin.close()
                    admin = None
            except asyncio.CancelledError:
                if admin is not None:
                    await admin.close()
                raise

    async def _recreate(self, topics: list[str]) -> None:
        assert self._producer is not None
        self._open.clear()
        try:
            with contextlib.suppress(KafkaError, TimeoutError):
                await asyncio.wait_for(self._producer.flush(), self._queue_timeout * 5)
            await ensure_topics(self._bootstrap, topics, **self._options)
            self.repairs += 1
            log.warning("the broker lost topic(s) %s (a restart?): created them again", topics)
        finally:
            self._open.set()

    def _delivered(self, event: Event, seq: int, fut: asyncio.Future[object]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            self._holding = True  # later events must not overtake this one
            exc = None if fut.cancelled() else fut.exception()
            task = asyncio.get_running_loop().create_task(self._hold(event, seq, exc))
            self._holds.add(task)
            task.add_done_callback(self._holds.discard)
        else:
            self.published += 1

    async def _hold(self, event: Event, seq: int, exc: BaseException | None) -> None:
        """Keep an event the broker did not take in the outbox (or count it lost)."""
        self.failed += 1
        if self._outbox is None:
            self.dropped += 1
            log.warning("event %s (%s) not published: %r", event.id, event.type, exc)
            return
        if not self._holding:
            log.warning("broker unavailable (%r): keeping events in the outbox", exc)
        self._holding = True
        self.dropped += await asyncio.to_thread(
            self._outbox.put, seq, self.topic, event.key(), event.encode()
        )

    async def _drain(self) -> None:
        """Send what the outbox holds, oldest first, a batch at a time; a batch leaves the
        outbox once the broker acknowledged it (a batch cut short is sent again whole:
        consumers deduplicate). New events queue behind until it is empty."""
        outbox, producer = self._outbox, self._producer
        if outbox is None or producer is None:
            return
        if not self._holding and await asyncio.to_thread(outbox.backlog) == 0:
            return
        self._holding = True
        with outbox.draining() as mine:
            if not mine:  # another process is draining the shared outbox
                return
            while batch := await asyncio.to_thread(outbox.oldest, DRAIN_BATCH):
                async with asyncio.timeout(self._queue_timeout * 30):
                    deliveries = [
                        await producer.send(held.topic, held.value, key=held.key) for held in batch
                    ]
                    outcomes = await asyncio.gather(*deliveries, return_exceptions=True)
                sent = 0
                for outcome in outcomes:
                    if isinstance(outcome, BaseException):
                        break
                    sent += 1
                await asyncio.to_thread(outbox.remove, [held.id for held in batch[:sent]])
                self.published += sent
                self.resent += sent
                if sent < len(batch):
                    raise KafkaError(f"outbox drain stopped: {outcomes[sent]!r}")
            if not self._holds:
                self._holding = False
                log.info("event outbox drained")


async def ensure_topics(
    bootstrap: str, topics: Iterable[str], partitions: int = DEFAULT_PARTITIONS, **options: Any
) -> None:
    """Create topics that do not exist yet (`options`: kafka_options of the settings)."""
    admin = AIOKafkaAdminClient(**options, bootstrap_servers=bootstrap, request_timeout_ms=5000)
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


async def list_topics(bootstrap: str, **options: Any) -> list[str]:
    admin = AIOKafkaAdminClient(**options, bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


def build_consumer(
    bootstrap: str, *topics: str, group_id: str | None, auto_commit: bool = True, **options: Any
) -> AIOKafkaConsumer:
    """A consumer tuned for low latency (fetch_max_wait_ms=5 instead of 500)."""
    return AIOKafkaConsumer(
        *topics,
        **options,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=auto_commit and group_id is not None,
        fetch_max_wait_ms=5,
    )
