"""Live subscriptions: the bus's events pushed to subscribers: `runs` (every run's),
`run:{id}` (one run's), `agents` (agents connecting, evicted, disconnecting), `alerts`
(alerts opened, escalated, acknowledged, resolved); and `metrics`: the aggregator's
1-second windows (`analytics/windows.py`) from the metrics topic.

One Kafka consumer per node and topic (no consumer group: every node reads every
partition) feeds every subscriber of the node, however many follow one run. Each event carries its
position, `<partition>:<offset>` (a run's events all live in one partition: they are keyed
by run id); a `runs` subscriber's position is the list of every partition's, e.g.
`0:41,1:7,2:19`. A subscriber that comes back with `after` first gets what it missed: a
short-lived consumer reads from just after that position up to where the live consumer
stood at that moment, while live events for it are held; then the held events after the
replayed ones follow, so there is no gap and no duplicate. A live consumer interrupted
(the broker restarting) resumes from the offsets it had reached, not from the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Counter
from websockets.asyncio.server import broadcast
from websockets.exceptions import ConnectionClosed

from core.bus import build_consumer, ensure_topics
from core.events import Event
from core.settings import Settings
from core.transport import kafka_options
from pool import protocol as p

if TYPE_CHECKING:
    from pool.node import Connection

log = logging.getLogger("pool.subscriptions")
REPLAY_LIMIT = 10_000  # events replayed to one subscriber before it must start afresh
STOP_SECONDS = 5.0  # longest a replay's consumer may take to stop


def parse_position(text: str | None) -> dict[int, int]:
    """`0:41,1:7` -> {0: 41, 1: 7} (the last offsets seen per partition)."""
    if not text:
        return {}
    try:
        pairs = (part.split(":", 1) for part in text.split(",") if part)
        return {int(k): int(v) for k, v in pairs}
    except ValueError:
        raise p.ProtocolError(f"bad position {text!r}: expected partition:offset,...") from None


def format_position(seen: dict[int, int]) -> str:
    return ",".join(f"{k}:{v}" for k, v in sorted(seen.items()))


@dataclass(frozen=True)
class Item:
    """One record of a topic as subscribers see it: whose, on which channels, what."""

    tenant: str
    channels: tuple[str, ...]
    payload: dict[str, Any]


def event_item(raw: bytes) -> Item | None:
    """An event of the events topic: `pool.*` of agents on `agents`, `alert.*` on
    `alerts`, the rest on `runs` and its run's channel."""
    try:
        event = Event.decode(raw)
    except ValueError:
        return None
    channels: tuple[str, ...]
    if event.type.startswith("pool."):
        channels = ("agents",) if event.data.get("role") == "agent" else ()
    elif event.type.startswith("alert."):
        channels = ("alerts",)
    else:
        channels = ("runs", f"run:{event.run_id}")
    return Item(event.tenant, channels, event.model_dump(mode="json"))


def metrics_item(raw: bytes) -> Item | None:
    """A 1-second window of the metrics topic (`WindowMetrics`, keyed by tenant)."""
    try:
        window = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(window, dict) or not isinstance(window.get("tenant"), str):
        return None
    return Item(window["tenant"], ("metrics",), window)


@dataclass
class Subscription:
    conn: Connection
    channel: str
    seen: dict[int, int] = field(default_factory=dict)
    held: list[ConsumerRecord[bytes, bytes]] | None = None  # live events while replaying

    def wants(self, item: Item, tenant: str) -> bool:
        return item.tenant == tenant and self.channel in item.channels

    def new(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        offset: int = record.offset
        return offset > self.seen.get(record.partition, -1)


class Fanout:
    """One topic's records to the node's subscribers of its channels."""

    def __init__(
        self,
        settings: Settings,
        errors: Counter,
        topic: str | None = None,
        decode: Callable[[bytes], Item | None] = event_item,
    ) -> None:
        self.settings = settings
        self._options = kafka_options(settings)  # TLS and SASL, as every aiokafka client
        self.topic = topic or settings.EVENTS_TOPIC
        self._decode = decode
        self.subs: dict[tuple[str, str], Subscription] = {}  # (connection id, channel)
        self._errors = errors
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.position: dict[int, int] = {}  # next offset the live consumer reads
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def ready(self) -> bool:
        """The live consumer reads the events topic."""
        return self._consumer is not None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def drop(self, conn: Connection) -> None:
        for key in [k for k in self.subs if k[0] == conn.id]:
            del self.subs[key]

    def unsubscribe(self, conn: Connection, channel: str) -> None:
        self.subs.pop((conn.id, channel), None)

    async def subscribe(self, conn: Connection, msg: p.Subscribe) -> None:
        sub = Subscription(conn, msg.channel, parse_position(msg.after))
        replay = msg.after is not None  # even while the live feed reconnects: it resumes
        if replay:  # from `position`, so the replay goes up to there and holds what follows
            sub.held = []
        else:
            sub.seen = {part: offset - 1 for part, offset in self.position.items()}
        self.subs[(conn.id, msg.channel)] = sub
        await conn.send(p.Subscribed(channel=msg.channel, position=format_position(sub.seen)))
        if replay:
            self._spawn(self._catch_up(sub, dict(self.position)))

    async def _run(self) -> None:
        bootstrap = self.settings.kafka_bootstrap
        while True:
            try:
                await ensure_topics(bootstrap, [self.topic], **self._options)
                consumer = build_consumer(bootstrap, group_id=None, **self._options)
                await consumer.start()
                try:
                    await consumer.topics()  # metadata: the topic's partitions
                    parts = [
                        TopicPartition(self.topic, n)
                        for n in sorted(consumer.partitions_for_topic(self.topic) or [])
                    ]
                    if not parts:
                        parts = [TopicPartition(self.topic, n) for n in range(3)]
                    consumer.assign(parts)
                    for tp in parts:
                        if tp.partition in self.position:  # after an interruption: resume
                            consumer.seek(tp, self.position[tp.partition])  # (no gap)
                        else:
                            await consumer.seek_to_end(tp)
                            self.position[tp.partition] = await consumer.position(tp)
                    self._consumer = consumer
                    async for record in consumer:
                        self.position[record.partition] = record.offset + 1
                        self._fan(record)
                finally:
                    self._consumer = None
                    await consumer.stop()
            except (KafkaError, OSError) as exc:
                log.warning("event feed interrupted (%r); reconnecting", exc)
                await asyncio.sleep(1)

    def _fan(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """One live event to every live subscriber that wants it: encoded once per channel
        and written to all of them at once (a slow subscriber's buffer grows; it does not
        hold the others back). Subscribers catching up hold it for later."""
        item = self._decode(record.value or b"")
        if item is None or not item.channels:
            return
        groups: dict[str, list[Subscription]] = {}
        for sub in list(self.subs.values()):
            if not sub.wants(item, sub.conn.principal.tenant):
                continue
            if sub.held is not None:
                sub.held.append(record)
            elif sub.new(record):
                sub.seen[record.partition] = record.offset
                groups.setdefault(sub.channel, []).append(sub)
        if not groups:
            return
        payload = item.payload
        for channel, subs in groups.items():
            if channel.startswith("run:"):
                position = f"{record.partition}:{record.offset}"
            else:  # every event up to the live consumer's position went to live subscribers
                position = format_position({k: v - 1 for k, v in self.position.items()})
            message = p.EventMessage(channel=channel, position=position, event=payload)
            broadcast([sub.conn.ws for sub in subs], p.encode(message))

    async def _deliver(self, sub: Subscription, record: ConsumerRecord[bytes, bytes]) -> None:
        """One replayed event to one subscriber, with its own position."""
        item = self._decode(record.value or b"")
        if item is None or not sub.wants(item, sub.conn.principal.tenant) or not sub.new(record):
            return
        sub.seen[record.partition] = record.offset
        position = (
            f"{record.partition}:{record.offset}"
            if sub.channel.startswith("run:")
            else format_position(sub.seen)
        )
        message = p.EventMessage(channel=sub.channel, position=position, event=item.payload)
        await sub.conn.send(message)

    async def _catch_up(self, sub: Subscription, until: dict[int, int]) -> None:
        """Replay what `sub` missed (after its `seen`, before `until`), then its held
        live events, then let it go live. The held events go out however the replay ends:
        a subscriber left holding would never see another live event."""
        consumer: AIOKafkaConsumer | None = None
        replayed = 0
        try:
            if not until:  # the live feed has not started yet: up to the topic's end
                consumer = await self._replay_consumer()
                await consumer.topics()
                known = sorted(consumer.partitions_for_topic(self.topic) or [])
                ends = await consumer.end_offsets([TopicPartition(self.topic, n) for n in known])
                until = {tp.partition: offset for tp, offset in ends.items()}
            todo = {
                part: end
                for part, end in until.items()
                if sub.seen.get(part, -1) + 1 < end
                and (not sub.channel.startswith("run:") or part in sub.seen or not sub.seen)
            }
            if todo:  # else nothing was missed: no consumer to start and stop
                consumer = consumer or await self._replay_consumer()
                parts = [TopicPartition(self.topic, n) for n in todo]
                consumer.assign(parts)
                for tp in parts:
                    start = sub.seen.get(tp.partition, -1) + 1
                    if start == 0:
                        await consumer.seek_to_beginning(tp)
                    else:
                        consumer.seek(tp, start)
                while todo and replayed < REPLAY_LIMIT:
                    batch = await consumer.getmany(timeout_ms=500)
                    for tp, records in batch.items():
                        for record in records:
                            if record.offset < todo.get(tp.partition, -1):
                                await self._deliver(sub, record)
                                replayed += 1
                        if records and records[-1].offset + 1 >= todo.get(tp.partition, 0):
                            todo.pop(tp.partition, None)
                    if not batch:
                        for part in list(todo):
                            if (
                                await consumer.position(TopicPartition(self.topic, part))
                                >= (todo[part])
                            ):
                                todo.pop(part)
        except (KafkaError, OSError) as exc:
            self._errors.labels("replay").inc()
            log.warning("replay for %s failed: %r", sub.channel, exc)
        except ConnectionClosed:
            pass  # the subscriber left while catching up
        finally:
            if consumer is not None:
                try:
                    await asyncio.wait_for(consumer.stop(), STOP_SECONDS)
                except (KafkaError, OSError, TimeoutError) as exc:
                    log.warning("replay consumer for %s did not stop: %r", sub.channel, exc)
            with contextlib.suppress(ConnectionClosed):
                while sub.held:  # the live events that came meanwhile, in order
                    held, sub.held = sub.held, []
                    for record in held:
                        await self._deliver(sub, record)
            sub.held = None  # live from here: no await since `held` was last found empty

    async def _replay_consumer(self) -> AIOKafkaConsumer:
        consumer = build_consumer(self.settings.kafka_bootstrap, group_id=None, **self._options)
        try:
            await consumer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), STOP_SECONDS)
            raise
        return consumer


def event_of(message: dict[str, Any]) -> Event:
    return Event.model_validate(message["event"])
