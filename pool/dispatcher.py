"""`PoolDispatcher`: the `RemoteDispatcher` a worker uses to reach an agent held by any
pool node.

A worker does not know which node holds an agent; the registry does (registry.py). The
dispatcher picks the least-loaded suitable agent, pushes a dispatch request onto the
inbox list of that agent's node, and waits (BLPOP) on a reply key for the node's answer:
the agent accepted the task, or refused it (busy, gone), in which case the next
candidate is tried.

Why Redis lists rather than pub/sub: a pub/sub message is lost when the node is not
subscribed at that instant (reconnecting to Redis, starting), with no one noticing; a
list holds the request until the node pops it, and the reply key tells the worker for
certain whether the agent took the task. Every request carries a deadline: a node that
pops it too late (it was stalled) drops it, so a task the worker gave up on is never
started behind its back. Why not streams: one consumer per inbox needs no consumer groups,
acknowledgements or trimming, and the requests are useless after their deadline anyway.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.contracts import AgentTask
from pool.registry import AgentRecord, Registry

ACCEPT_TIMEOUT_SECONDS = 3.0  # the node's answer; below the step's 5 s heartbeat timeout
CANDIDATES = 3
REPLY_TTL_SECONDS = 30
AFFINITY_TTL_SECONDS = 24 * 3600  # as the router's: refreshed by every step under the key


class PoolDispatcher:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.registry = Registry(redis, prefix)
        self._redis = redis

    async def dispatch(
        self, agent_id: str | None, capability: str | None, task: AgentTask, task_token: bytes
    ) -> None:
        wanted = f"agent {agent_id!r}" if agent_id else f"capability {capability!r}"
        try:
            candidates = await self.registry.candidates(task.tenant, agent_id, capability)
        except RedisError as exc:
            raise ApplicationError(
                f"the pool's registry (Redis) is unreachable: {exc}", type="RemoteUnavailable"
            ) from None
        if not candidates:
            raise ApplicationError(
                f"no connected agent with free capacity for {wanted} in tenant {task.tenant!r}",
                type="RemoteUnavailable",
            )
        affinity = getattr(task.agent, "affinity_key", None)
        if affinity is not None:
            candidates = await self._by_affinity(task.tenant, affinity, candidates)
        refusals = []
        for agent in candidates[:CANDIDATES]:
            answer = await self._offer(
                agent.node, agent.agent_id, agent.connection, task, task_token
            )
            if answer.get("accepted"):
                if affinity is not None:
                    key = affinity_key(self.registry.prefix, task.tenant, affinity)
                    with contextlib.suppress(RedisError):
                        await self._redis.set(key, agent.agent_id, ex=AFFINITY_TTL_SECONDS)
                return
            refusals.append(f"{agent.agent_id}: {answer.get('reason', 'no answer')}")
            if activity.in_activity():
                activity.heartbeat(*activity.info().heartbeat_details)
        raise ApplicationError(
            f"no agent took the task ({'; '.join(refusals)})", type="RemoteUnavailable"
        )

    async def _by_affinity(
        self, tenant: str, key: str, candidates: list[AgentRecord]
    ) -> list[AgentRecord]:
        """The agent the key went to last first, when it is still a candidate."""
        try:
            last = await self._redis.get(affinity_key(self.registry.prefix, tenant, key))
        except RedisError:
            return candidates
        last = last.decode() if isinstance(last, bytes) else last
        return sorted(candidates, key=lambda a: a.agent_id != last)

    async def _offer(
        self, node: str, agent_id: str, connection: str, task: AgentTask, token: bytes
    ) -> dict[str, Any]:
        dispatch_id = uuid.uuid4().hex
        attempt, progress = 1, {}
        if activity.in_activity():
            info = activity.info()
            attempt = info.attempt
            last = info.heartbeat_details[0] if info.heartbeat_details else None
            progress = dict(last) if isinstance(last, dict) else {}
        request = {
            "dispatch_id": dispatch_id,
            "agent_id": agent_id,
            "connection": connection,
            "task": task.model_dump(mode="json"),
            "task_token": base64.b64encode(token).decode(),
            "attempt": attempt,
            "progress": progress,
            "sent_at": time.time(),
            "expires_at": time.time() + ACCEPT_TIMEOUT_SECONDS,
        }
        reply_key = self.registry.reply_key(dispatch_id)
        try:
            await self._redis.rpush(self.registry.inbox(node), json.dumps(request))
            reply = await self._redis.blpop([reply_key], timeout=ACCEPT_TIMEOUT_SECONDS + 0.5)
        except RedisError as exc:
            return {"accepted": False, "reason": f"Redis: {exc}"}
        if reply is None:
            return {"accepted": False, "reason": f"node {node} did not answer"}
        answer: dict[str, Any] = json.loads(reply[1])
        return answer


def affinity_key(pool_prefix: str, tenant: str, key: str) -> str:
    """Where the agent a key went to last is kept (beside the router's affinity)."""
    return f"{pool_prefix}affinity:{tenant}:{key}"


def encode_reply(accepted: bool, reason: str = "") -> str:
    return json.dumps({"accepted": accepted, "reason": reason})
