"""A pool node facing bad clients: each is closed with its own code and reason, while a
well-behaved client on the same node is served throughout; limits, eviction and health."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from core import db
from core.auth import ApiKeys
from core.bus import build_consumer
from core.contracts import AgentTask
from core.events import Event
from core.settings import Settings
from pool import protocol as p
from pool.dispatcher import PoolDispatcher
from pool.node import PoolNode
from pool.registry import Registry
from tests.conftest import api_client
from tests.support.pool import connected, running_node, shell_agent
from tests.support.servers import free_port

pytestmark = pytest.mark.integration


class Keys:
    agent: str
    reader: str


@pytest.fixture
async def node_and_keys(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> AsyncIterator[tuple[PoolNode, Keys]]:
    settings = make_settings(
        POOL_PORT=free_port(),
        POOL_HELLO_TIMEOUT_SECONDS=0.5,
        POOL_MAX_MESSAGE_BYTES=4096,
        POOL_MAX_CONNECTIONS=4,
        POOL_PING_INTERVAL_SECONDS=0.3,
        POOL_PING_TIMEOUT_SECONDS=0.5,
        POOL_MIN_AGENTS={"code": 1},
    )
    engine = db.create_engine(settings)
    await db.migrate(engine, settings.DATABASE_SCHEMA)
    keys = Keys()
    _, keys.agent = await ApiKeys(engine).create("agent", settings.TENANT, ["agents:connect"])
    _, keys.reader = await ApiKeys(engine).create("reader", settings.TENANT, ["runs:read"])
    await engine.dispose()
    async with running_node(settings, temporal_env.client) as node:
        yield node, keys


async def _closed_with(url: str, *frames: str | bytes) -> tuple[int, str]:
    async with connect(url, max_size=None) as ws:
        for frame in frames:
            await ws.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def _hello(ws: ClientConnection, **fields: Any) -> p.Registered:
    await ws.send(p.encode(p.Hello(**fields)))
    registered = p.parse_server(await ws.recv())
    assert isinstance(registered, p.Registered)
    return registered


async def test_bad_clients_are_closed_with_their_code_and_others_are_served(
    node_and_keys: tuple[PoolNode, Keys],
) -> None:
    node, keys = node_and_keys
    url = node.url
    async with connect(url) as good:
        await _hello(good, token=keys.reader, role="subscriber")
        hello = p.encode(p.Hello(token=keys.agent, capabilities=["code"]))
        cases = {
            "malformed JSON": ((hello, "{not json"), 1007, "malformed JSON"),
            "unknown type": ((hello, json.dumps({"type": "dance"})), 1007, "invalid message"),
            "bad field": ((hello, json.dumps({"type": "accepted"})), 1007, "task_id"),
            "oversized": ((hello, "x" * 5000), 1009, ""),
            "bad token": ((p.encode(p.Hello(token="acc_nope_nope")),), 1008, "not valid"),
            "no token": ((json.dumps({"type": "hello"}),), 1008, "no token"),
            "no scope": ((p.encode(p.Hello(token=keys.reader)),), 1008, "agents:connect"),
            "no hello": ((json.dumps({"type": "ping"}),), 1008, "must be hello"),
            "silent": ((), 1008, "no hello within 0.5s"),
        }
        for name, (frames, code, reason) in cases.items():
            closed = await _closed_with(url, *frames)
            assert closed[0] == code and reason in closed[1], (name, closed)
        await good.send(p.encode(p.Ping(nonce="still-here")))
        assert p.parse_server(await good.recv()) == p.Pong(nonce="still-here")


async def test_a_full_node_refuses_with_1013_and_a_retry_hint(
    node_and_keys: tuple[PoolNode, Keys],
) -> None:
    node, keys = node_and_keys
    async with HeldConnections(node.url, 4) as held:
        for ws in held:
            await _hello(ws, token=keys.reader, role="subscriber")
        code, reason = await _closed_with(node.url)
    assert code == 1013 and "retry in" in reason


class HeldConnections:
    def __init__(self, url: str, count: int) -> None:
        self.url, self.count = url, count
        self.held: list[ClientConnection] = []

    async def __aenter__(self) -> list[ClientConnection]:
        self.held = [await connect(self.url) for _ in range(self.count)]
        return self.held

    async def __aexit__(self, *_: object) -> None:
        for ws in self.held:
            await ws.close()


async def test_an_agent_that_stops_answering_pings_is_evicted(
    node_and_keys: tuple[PoolNode, Keys],
) -> None:
    node, keys = node_and_keys
    registry = Registry(node.redis, node.settings.REDIS_PREFIX)
    tenant = node.settings.TENANT
    async with connect(node.url) as watcher:
        await _hello(watcher, token=keys.reader, role="subscriber")
        await watcher.send(p.encode(p.Subscribe(channel="agents")))
        assert isinstance(p.parse_server(await watcher.recv()), p.Subscribed)
        async with connect(node.url, ping_interval=None) as ws:
            await _hello(ws, token=keys.agent, agent_id="sleepy", capabilities=["code"])
            assert [a.agent_id for a in await registry.agents(tenant)] == ["sleepy"]
            ws.transport.pause_reading()  # a frozen client: pings go unanswered
            for _ in range(100):  # evicted within ping interval + timeout + close timeout
                if len(node.connections) == 1:
                    break
                await asyncio.sleep(0.1)
            assert await registry.agents(tenant) == []
        seen = []
        while len(seen) < 2:
            message = p.parse_server(await asyncio.wait_for(watcher.recv(), 10))
            assert isinstance(message, p.EventMessage)
            seen.append((message.event["type"], message.event["data"]["agent"]))
    assert seen == [("pool.registered", "sleepy"), ("pool.evicted", "sleepy")]


async def test_health_readiness_and_metrics(node_and_keys: tuple[PoolNode, Keys]) -> None:
    node, keys = node_and_keys
    http = node.url.replace("ws://", "http://")
    async with httpx.AsyncClient(base_url=http) as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = (await client.get("/readyz")).json()
        assert ready["ready"] and ready["agents_short"] == {"code": 1}
        async with connect(node.url) as ws:
            await _hello(ws, token=keys.agent, capabilities=["code", "review"])
            async with connect(node.url) as bad:
                await bad.send(p.encode(p.Hello(token="acc_nope_nope")))
                with pytest.raises(ConnectionClosed):
                    await bad.recv()
            ready = (await client.get("/readyz")).json()
            metrics = (await client.get("/metrics")).text
    assert ready["agents_short"] == {}
    # The rollback trigger's WebSocket success rate reads these (deploy/helm/acc).
    assert 'acc_pool_connection_attempts_total{outcome="accepted"} 1.0' in metrics
    assert 'acc_pool_connection_attempts_total{outcome="rejected"} 1.0' in metrics
    assert 'acc_pool_connections{role="agent"} 1.0' in metrics
    assert 'acc_pool_agents{capability="review"} 1.0' in metrics
    assert "acc_pool_dispatch_seconds_bucket" in metrics


async def test_connected_agents_are_listed_for_their_tenant_only(
    node_and_keys: tuple[PoolNode, Keys],
) -> None:
    node, keys = node_and_keys
    async with connect(node.url) as ws:
        await _hello(ws, token=keys.agent, agent_id="laptop-1", capabilities=["code"], capacity=2)
        async with api_client(node.settings, ("runs:read",)) as api:
            listed = (await api.get("/v1/agents/connected")).json()
        async with api_client(node.settings, ("runs:read",), tenant="other") as api:
            other = (await api.get("/v1/agents/connected")).json()
    assert listed["nodes"] == [node.node_id]
    [agent] = listed["agents"]
    assert (agent["agent_id"], agent["node"], agent["capacity"]) == ("laptop-1", node.node_id, 2)
    assert other["agents"] == []


async def test_a_dispatch_the_agent_never_accepts_goes_to_the_dead_letter_topic(
    node_and_keys: tuple[PoolNode, Keys],
) -> None:
    node, keys = node_and_keys
    settings = node.settings
    dispatcher = PoolDispatcher(node.redis, settings.REDIS_PREFIX)
    task = AgentTask.model_validate(
        {
            "run_id": "run-dlq",
            "tenant": settings.TENANT,
            "step_index": 0,
            "step_name": "ignored",
            "agent": {"backend": "remote", "capability": "code"},
        }
    )
    async with connect(node.url) as ws:  # registers, then never answers a task
        await _hello(ws, token=keys.agent, agent_id="mute", capabilities=["code"])
        with pytest.raises(ApplicationError) as refused:
            await dispatcher.dispatch(None, "code", task, b"token")
        offered = p.parse_server(await ws.recv())
        assert isinstance(offered, p.TaskMessage) and offered.task.step_name == "ignored"
        withdrawn = p.parse_server(await ws.recv())
        assert isinstance(withdrawn, p.Cancel) and withdrawn.task_id == offered.task_id
    assert refused.value.type == "RemoteUnavailable"
    assert "mute: the agent did not accept in time" in refused.value.message
    consumer = build_consumer(settings.kafka_bootstrap, settings.DEAD_LETTER_TOPIC, group_id=None)
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    [letter] = [Event.decode(r.value or b"") for records in batch.values() for r in records]
    assert (letter.type, letter.run_id, letter.step) == ("dispatch.failed", "run-dlq", "ignored")
    assert letter.data["reason"] == "the agent did not accept in time"


async def test_steps_with_an_affinity_key_go_back_to_the_agent_that_took_the_last(
    node_and_keys: tuple[PoolNode, Keys],
) -> None:
    node, keys = node_and_keys
    settings = node.settings
    dispatcher = PoolDispatcher(node.redis, settings.REDIS_PREFIX)

    def task(affinity: str) -> AgentTask:
        agent = {"backend": "remote", "capability": "code", "affinity_key": affinity}
        return AgentTask.model_validate(
            {"run_id": "r", "tenant": settings.TENANT, "step_index": 0, "step_name": "s"}
            | {"agent": agent}
        )

    async def taken(ws: ClientConnection) -> str:
        offered = p.parse_server(await asyncio.wait_for(ws.recv(), 5))
        assert isinstance(offered, p.TaskMessage)
        await ws.send(p.encode(p.Accepted(task_id=offered.task_id)))
        return offered.task.agent.affinity_key or ""  # type: ignore[union-attr]

    async with connect(node.url) as first, connect(node.url) as second:
        await _hello(first, token=keys.agent, agent_id="a1", capabilities=["code"], capacity=5)
        await _hello(second, token=keys.agent, agent_id="a2", capabilities=["code"], capacity=5)
        await node.redis.set(f"{settings.REDIS_PREFIX}pool:affinity:{settings.TENANT}:k", "a2")
        sent = asyncio.create_task(dispatcher.dispatch(None, "code", task("k"), b"t"))
        assert await taken(second) == "k"  # a1 would win the tie: the key chose a2
        await sent
        sent = asyncio.create_task(dispatcher.dispatch(None, "code", task("fresh"), b"t"))
        assert await taken(first) == "fresh"  # least loaded now
        await sent
    remembered = await node.redis.get(f"{settings.REDIS_PREFIX}pool:affinity:default:fresh")
    assert remembered in (b"a1", "a1")


async def test_a_recycled_connection_is_asked_to_reconnect_and_comes_back(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(POOL_PORT=free_port(), POOL_RECYCLE_SECONDS=1)
    engine = db.create_engine(settings)
    await db.migrate(engine, settings.DATABASE_SCHEMA)
    _, token = await ApiKeys(engine).create("agent", settings.TENANT, ["agents:connect"])
    await engine.dispose()
    seen: list[str] = []
    async with running_node(settings, temporal_env.client) as node:
        client = shell_agent(settings, [node.url], token, "recycled", ["code"], note(seen))
        async with connected(client):
            for _ in range(100):
                if seen.count("registered") >= 2:
                    break
                await asyncio.sleep(0.1)
    assert seen[:3] == ["registered", "reconnect", "registered"]


def note(seen: list[str]) -> Callable[[str, dict[str, Any]], None]:
    return lambda kind, _: seen.append(kind)
