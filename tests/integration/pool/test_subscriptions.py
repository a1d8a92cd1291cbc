"""Live subscriptions: a run's events pushed from the bus by any node, resumed on another
node after a disconnect from the last position seen, with no gap and no duplicate; other
tenants see nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from temporalio.testing import WorkflowEnvironment
from websockets.asyncio.client import connect

from core import db
from core.auth import ApiKeys
from core.bus import EventBus
from core.events import Event
from core.settings import Settings
from pool import protocol as p
from pool.subscriber import subscribe
from tests.support.pool import running_node
from tests.support.servers import free_port

pytestmark = pytest.mark.integration


async def test_a_subscriber_resumes_on_another_node_without_gap_or_duplicate(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(POOL_PORT=free_port())
    other_node = settings.model_copy(update={"POOL_PORT": free_port()})
    engine = db.create_engine(settings)
    await db.migrate(engine, settings.DATABASE_SCHEMA)
    _, reader = await ApiKeys(engine).create("reader", settings.TENANT, ["runs:read"])
    _, stranger = await ApiKeys(engine).create("stranger", "other-tenant", ["runs:read"])
    await engine.dispose()
    bus = EventBus.from_settings(settings)
    await bus.start()
    run_id = f"live-{uuid.uuid4().hex[:8]}"

    async def publish(*numbers: int) -> None:
        for n in numbers:
            event = {"type": "agent.message", "source": "test", "run_id": run_id, "data": {"n": n}}
            await bus.publish(Event.model_validate({**event, "tenant": settings.TENANT}))

    client = temporal_env.client
    async with (
        running_node(settings, client, "node-a") as a,
        running_node(other_node, client, "node-b") as b,
        connect(a.url) as first,
        connect(b.url) as outsider,
    ):
        await outsider.send(p.encode(p.Hello(token=stranger, role="subscriber")))
        await outsider.recv()
        await outsider.send(p.encode(p.Subscribe(channel="runs")))
        assert isinstance(p.parse_server(await outsider.recv()), p.Subscribed)

        await first.send(p.encode(p.Hello(token=reader, role="subscriber")))
        await first.recv()
        await first.send(p.encode(p.Subscribe(channel=f"run:{run_id}")))
        assert isinstance(p.parse_server(await first.recv()), p.Subscribed)
        await publish(1, 2, 3)
        seen: list[int] = []
        position = ""
        while len(seen) < 3:
            message = p.parse_server(await asyncio.wait_for(first.recv(), 10))
            assert isinstance(message, p.EventMessage)
            seen.append(message.event["data"]["n"])
            position = message.position
        await first.close()

        await publish(4, 5, 6)  # while nobody follows the run
        stop = asyncio.Event()
        async with asyncio.timeout(20):
            async for _, event in subscribe([b.url], reader, f"run:{run_id}", after=position):
                seen.append(event["data"]["n"])
                if len(seen) == 6:
                    await publish(7)
                if len(seen) == 7:
                    stop.set()
                    break
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(outsider.recv(), 1)
    await bus.stop()
    assert seen == [1, 2, 3, 4, 5, 6, 7]
