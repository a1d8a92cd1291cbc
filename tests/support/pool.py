"""Pool nodes as `acc pool` runs them (separate processes, so a test can kill -9 one),
remote agents as `acc agent connect` runs them (in this process, as the library), and a
reader of a topic's events."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from core import db
from core import redis as redis_client
from core.bus import EventBus, build_consumer
from core.events import Event
from core.settings import Settings, child_environment
from pool.agent import AgentClient
from pool.node import PoolNode
from tests.support.servers import free_port


@dataclass
class Node:
    node_id: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_node(settings: Settings, node_id: str, tmp: Path, **env: str) -> Node:
    port = free_port()
    log = tmp / f"pool-{node_id}.log"
    environment = child_environment(settings)
    environment.update(
        ACC_POOL_PORT=str(port), ACC_POOL_NODE_ID=node_id, ACC_POOL_HOST="127.0.0.1", **env
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "pool"],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    node = Node(node_id, port, proc, log)
    deadline = time.monotonic() + 180  # a loaded 2-core machine takes its time to import
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{node.http}/readyz", timeout=1).status_code == 200:
                return node
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"pool node {node_id} not ready:\n{log.read_text()}")


@contextlib.contextmanager
def pool_nodes(settings: Settings, tmp: Path, *ids: str, **env: str) -> Iterator[list[Node]]:
    nodes: list[Node] = []
    try:
        for node_id in ids:
            nodes.append(start_node(settings, node_id, tmp, **env))
        yield nodes
    finally:
        for node in nodes:
            if node.proc.poll() is None:
                node.proc.terminate()
                try:
                    node.proc.wait(20)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait(5)


@contextlib.asynccontextmanager
async def connected(*clients: AgentClient) -> AsyncIterator[list[AgentClient]]:
    """The agents running (connected and registered) until the block ends."""
    stop = asyncio.Event()
    runs = [asyncio.create_task(c.run(stop)) for c in clients]
    try:
        async with asyncio.timeout(30):
            await asyncio.gather(*(c.connected.wait() for c in clients))
        yield list(clients)
    finally:
        stop.set()
        _, slow = await asyncio.wait(runs, timeout=10)
        for run in slow:
            run.cancel()
        for run in runs:
            with contextlib.suppress(asyncio.CancelledError):
                await run


async def run_events(settings: Settings, run_id: str, until: str = "run.completed") -> list[Event]:
    """Every event of one run on the events topic, up to the first of type `until` and a
    moment after it (the pool reports a step's end after completing it in Temporal, so the
    run's end can overtake the last step's event)."""
    consumer = build_consumer(settings.kafka_bootstrap, settings.EVENTS_TOPIC, group_id=None)
    await consumer.start()
    events: list[Event] = []
    settled: float | None = None
    try:
        async with asyncio.timeout(30):
            while settled is None or time.monotonic() < settled:
                if settled is None and any(e.type == until for e in events):
                    settled = time.monotonic() + 1.5
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        event = Event.decode(record.value or b"")
                        if event.run_id == run_id:
                            events.append(event)
    finally:
        await consumer.stop()
    return events


def shell_agent(
    settings: Settings,
    node_urls: list[str],
    token: str,
    agent_id: str,
    capabilities: list[str],
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
    **spec: Any,
) -> AgentClient:
    return AgentClient(
        node_urls,
        token,
        capabilities=capabilities,
        spec={"backend": "shell", **spec},
        settings=settings,
        agent_id=agent_id,
        on_event=on_event,
    )


@contextlib.asynccontextmanager
async def running_node(
    settings: Settings, temporal: Client, node_id: str = "node-in-process"
) -> AsyncIterator[PoolNode]:
    """A pool node in this process (the bad-input and limit tests need no process to kill)."""
    async with contextlib.AsyncExitStack() as stack:
        engine = db.create_engine(settings)
        stack.push_async_callback(engine.dispose)
        await db.migrate(engine, settings.DATABASE_SCHEMA)
        bus = EventBus.from_settings(settings, also_keep=[settings.DEAD_LETTER_TOPIC])
        await bus.start()
        stack.push_async_callback(bus.stop)
        redis = redis_client.connect(settings)
        stack.push_async_callback(redis.aclose)
        node = PoolNode(
            settings, temporal=temporal, redis=redis, engine=engine, bus=bus, node_id=node_id
        )
        stop, up = asyncio.Event(), asyncio.Event()
        serving = asyncio.create_task(node.serve(stop, up.set))
        await asyncio.wait_for(up.wait(), 30)
        for _ in range(300):  # the live event feed reads the topic
            if node.fanout.ready and node.metrics_feed.ready:
                break
            await asyncio.sleep(0.1)
        try:
            yield node
        finally:
            stop.set()
            await asyncio.wait_for(serving, 60)
