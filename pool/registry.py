"""What every pool node shares in Redis: live nodes, connected agents, their load.

Every key expires unless its node keeps refreshing it, so a node killed with `kill -9`
disappears from the registry on its own within NODE_TTL (its agents within AGENT_TTL),
and no worker dispatches to it after that:

    {prefix}pool:nodes                      set of node ids (pruned when their key is gone)
    {prefix}pool:node:{node}                hash url, connections, started, draining  (NODE_TTL)
    {prefix}pool:agents:{tenant}            set of agent ids of the tenant (pruned likewise)
    {prefix}pool:agent:{tenant}:{agent}     hash node, connection, capabilities, capacity,
                                            load, connected_at, labels              (AGENT_TTL)
    {prefix}pool:inbox:{node}               list: dispatch requests to the node (mailbox.py)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

NODE_TTL_SECONDS = 4
AGENT_TTL_SECONDS = 10
REFRESH_SECONDS = 1.0

# Remove an agent only if the connection that registered it is still the one recorded (a
# reconnect to another node may have replaced it meanwhile).
UNREGISTER = """
if redis.call('HGET', KEYS[1], 'connection') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""
# Keep a node's agents alive: for each agent still registered by the connection given,
# its load as the node counts it and a new expiry, in one step per agent, so an agent a
# newer connection took over meanwhile (elsewhere) is left as that one wrote it. ARGV:
# connection, load, for each key in turn, then the expiry in seconds.
REFRESH = """
local kept = 0
local ttl = ARGV[#ARGV]
for i, key in ipairs(KEYS) do
  if redis.call('HGET', key, 'connection') == ARGV[2 * i - 1] then
    redis.call('HSET', key, 'load', ARGV[2 * i])
    redis.call('EXPIRE', key, ttl)
    kept = kept + 1
  end
end
return kept
"""
# Agents per REFRESH call: a script holds Redis while it runs (~1 ms for 500).
REFRESH_CHUNK = 500
# Change an agent's load if the connection is still the one recorded.
ADD_LOAD = """
if redis.call('HGET', KEYS[1], 'connection') == ARGV[1] then
  return redis.call('HINCRBY', KEYS[1], 'load', ARGV[2])
end
return nil
"""


@dataclass
class AgentRecord:
    agent_id: str
    tenant: str
    node: str
    connection: str
    capabilities: list[str]
    capacity: int
    load: int = 0
    connected_at: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def free(self) -> int:
        return self.capacity - self.load

    def view(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "node": self.node,
            "capabilities": self.capabilities,
            "capacity": self.capacity,
            "load": self.load,
            "connected_at": self.connected_at,
            "labels": self.labels,
        }


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Registry:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis, self.prefix = redis, f"{prefix}pool:"
        # Sent once, then called by hash (EVALSHA; loaded again after a Redis restart).
        self._refresh = redis.register_script(REFRESH)
        self._add_load = redis.register_script(ADD_LOAD)
        self._unregister = redis.register_script(UNREGISTER)

    def node_key(self, node: str) -> str:
        return f"{self.prefix}node:{node}"

    def inbox(self, node: str) -> str:
        return f"{self.prefix}inbox:{node}"

    def reply_key(self, dispatch_id: str) -> str:
        return f"{self.prefix}reply:{dispatch_id}"

    def _agent_key(self, tenant: str, agent_id: str) -> str:
        return f"{self.prefix}agent:{tenant}:{agent_id}"

    def _agents_key(self, tenant: str) -> str:
        return f"{self.prefix}agents:{tenant}"

    # nodes

    async def beat_node(self, node: str, url: str, connections: int, draining: bool) -> None:
        key = self.node_key(node)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "url": url,
                    "connections": connections,
                    "draining": int(draining),
                    "seen": time.time(),
                },
            )
            pipe.expire(key, NODE_TTL_SECONDS)
            pipe.sadd(f"{self.prefix}nodes", node)
            await pipe.execute()

    async def remove_node(self, node: str) -> None:
        await self.redis.delete(self.node_key(node), self.inbox(node))
        await self.redis.srem(f"{self.prefix}nodes", node)

    async def nodes(self) -> dict[str, dict[str, str]]:
        """Live nodes (and their url, connections, draining), pruning the dead."""
        ids = sorted(_text(n) for n in await self.redis.smembers(f"{self.prefix}nodes"))
        live: dict[str, dict[str, str]] = {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for node in ids:
                pipe.hgetall(self.node_key(node))
            found = await pipe.execute()
        dead = []
        for node, values in zip(ids, found, strict=True):
            if values:
                live[node] = {_text(k): _text(v) for k, v in values.items()}
            else:
                dead.append(node)
        if dead:
            await self.redis.srem(f"{self.prefix}nodes", *dead)
        return live

    async def total_connections(self) -> int:
        return sum(int(n.get("connections", 0)) for n in (await self.nodes()).values())

    # agents

    async def register(self, record: AgentRecord) -> None:
        key = self._agent_key(record.tenant, record.agent_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(
                key,
                mapping={
                    "node": record.node,
                    "connection": record.connection,
                    "capabilities": json.dumps(record.capabilities),
                    "capacity": record.capacity,
                    "load": record.load,
                    "connected_at": record.connected_at,
                    "labels": json.dumps(record.labels),
                },
            )
            pipe.expire(key, AGENT_TTL_SECONDS)
            pipe.sadd(self._agents_key(record.tenant), record.agent_id)
            await pipe.execute()

    async def refresh(self, records: list[AgentRecord]) -> int:
        """Keep the node's agents alive, with their load as the node counts it: one script
        call per REFRESH_CHUNK agents. Returns how many were still this node's."""
        kept = 0
        for start in range(0, len(records), REFRESH_CHUNK):
            chunk = records[start : start + REFRESH_CHUNK]
            keys = [self._agent_key(r.tenant, r.agent_id) for r in chunk]
            args: list[str | int] = [x for r in chunk for x in (r.connection, r.load)]
            kept += int(await self._refresh(keys=keys, args=[*args, AGENT_TTL_SECONDS]))
        return kept

    async def unregister(self, record: AgentRecord) -> bool:
        key = self._agent_key(record.tenant, record.agent_id)
        removed = await self._unregister(
            keys=[key, self._agents_key(record.tenant)], args=[record.connection, record.agent_id]
        )
        return bool(removed)

    async def add_load(self, record: AgentRecord, delta: int) -> None:
        key = self._agent_key(record.tenant, record.agent_id)
        await self._add_load(keys=[key], args=[record.connection, delta])

    async def agents(self, tenant: str) -> list[AgentRecord]:
        """The tenant's connected agents on live nodes."""
        ids = sorted(_text(a) for a in await self.redis.smembers(self._agents_key(tenant)))
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for agent_id in ids:
                pipe.hgetall(self._agent_key(tenant, agent_id))
            found = await pipe.execute()
        nodes = await self.nodes()
        records, gone = [], []
        for agent_id, values in zip(ids, found, strict=True):
            if not values:
                gone.append(agent_id)
                continue
            v = {_text(k): _text(x) for k, x in values.items()}
            if v["node"] not in nodes:
                continue
            records.append(
                AgentRecord(
                    agent_id=agent_id,
                    tenant=tenant,
                    node=v["node"],
                    connection=v["connection"],
                    capabilities=json.loads(v["capabilities"]),
                    capacity=int(v["capacity"]),
                    load=int(v["load"]),
                    connected_at=float(v["connected_at"]),
                    labels=json.loads(v.get("labels", "{}")),
                )
            )
        if gone:
            await self.redis.srem(self._agents_key(tenant), *gone)
        return records

    async def candidates(
        self, tenant: str, agent_id: str | None, capability: str | None
    ) -> list[AgentRecord]:
        """Agents that could take a task now, least loaded first (by free share of their
        capacity), skipping those on draining nodes."""
        nodes = await self.nodes()
        fit = [
            a
            for a in await self.agents(tenant)
            if (agent_id is None or a.agent_id == agent_id)
            and (capability is None or capability in a.capabilities)
            and a.free > 0
            and nodes.get(a.node, {}).get("draining") != "1"
        ]
        return sorted(fit, key=lambda a: (a.load / a.capacity, -a.free, a.agent_id))
