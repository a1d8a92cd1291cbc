"""The pool's registry on a real Redis: a node keeps its agents alive with one script call
per chunk of agents, never touching an agent another connection took over, and its
scripts survive a Redis that forgot them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from pool.registry import AGENT_TTL_SECONDS, REFRESH_CHUNK, AgentRecord, Registry

pytestmark = pytest.mark.integration


@pytest.fixture
async def registry(redis_url: str) -> AsyncIterator[Registry]:
    redis = Redis.from_url(redis_url)
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    registry = Registry(redis, prefix)
    for node in ("n1", "n2"):  # agents are listed only on live nodes
        await registry.beat_node(node, f"ws://{node}", 0, draining=False)
    try:
        yield registry
    finally:
        keys = [key async for key in redis.scan_iter(f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


def agent(i: int, node: str = "n1", connection: str | None = None) -> AgentRecord:
    return AgentRecord(
        agent_id=f"a{i}",
        tenant=f"t{i % 2}",
        node=node,
        connection=connection or f"{node}-c{i}",
        capabilities=["shell"],
        capacity=4,
    )


async def test_a_refresh_keeps_every_agent_of_the_node_alive_with_its_load(
    registry: Registry,
) -> None:
    records = [agent(i) for i in range(REFRESH_CHUNK * 2 + 7)]  # three script calls
    for record in records:
        await registry.register(record)
        await registry.redis.expire(registry._agent_key(record.tenant, record.agent_id), 2)
    for i, record in enumerate(records):
        record.load = i % 4
    assert await registry.refresh(records) == len(records)
    for tenant in ("t0", "t1"):
        listed = {a.agent_id: a.load for a in await registry.agents(tenant)}
        expected = {r.agent_id: r.load for r in records if r.tenant == tenant}
        assert listed == expected
    ttl = await registry.redis.ttl(registry._agent_key("t1", "a1"))
    assert AGENT_TTL_SECONDS - 2 <= ttl <= AGENT_TTL_SECONDS


async def test_an_agent_taken_over_by_another_connection_is_left_as_that_one_wrote_it(
    registry: Registry,
) -> None:
    mine, moved = agent(1), agent(3)
    for record in (mine, moved):
        await registry.register(record)
    newer = agent(3, node="n2", connection="n2-c9")
    newer.load = 3
    await registry.register(newer)  # the agent reconnected to another node
    mine.load = moved.load = 2
    assert await registry.refresh([mine, moved]) == 1
    by_id = {a.agent_id: a for a in await registry.agents("t1")}
    assert by_id["a3"].connection == "n2-c9" and by_id["a3"].load == 3
    assert by_id["a1"].load == 2
    assert not await registry.unregister(moved)  # the old connection cannot remove it
    await registry.add_load(moved, 1)  # nor change its load
    assert {a.agent_id: a.load for a in await registry.agents("t1")}["a3"] == 3


async def test_the_scripts_are_loaded_again_after_redis_forgets_them(
    registry: Registry,
) -> None:
    record = agent(1)
    await registry.register(record)
    await registry.redis.script_flush()  # as after a Redis restart
    record.load = 1
    assert await registry.refresh([record]) == 1
    await registry.add_load(record, 2)
    assert (await registry.agents("t1"))[0].load == 3
    assert await registry.unregister(record)
    assert await registry.agents("t1") == []
