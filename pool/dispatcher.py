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

import asyncio
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

from agents.breakers import CircuitBreakers
from agents.router import remote_agent_breaker
from core.contracts import AgentTask
from pool.registry import AgentRecord, Registry

ACCEPT_TIMEOUT_SECONDS = 3.0  # the node's answer; below the step's 5 s heartbeat timeout
CANDIDATES = 3
REPLY_TTL_SECONDS = 30
AFFINITY_TTL_SECONDS = 24 * 3600  # as the router's: refreshed by every step under the key
LOOK_SECONDS = 0.5  # between looks at the registry while no agent is connected
NO_AGENT = "NoRemoteAgent"  # the error type of a step no agent could take in time


class PoolDispatcher:
    """With `breakers` (the workers' `CircuitBreakers`), an agent whose breaker refuses
    (the pool records every remote agent's outcomes there) is skipped: its tasks go to the
    other agents of the capability until its reset timeout lets a probe through.

    While no agent at all can take the task (none connected with the capability and a
    free slot, or the agent named), the dispatch looks again every `LOOK_SECONDS`,
    heartbeating the step, for up to `wait_seconds` (ACC_POOL_DISPATCH_WAIT_SECONDS);
    then it fails for good with `NoRemoteAgent` (run_agent dead-letters it)."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        breakers: CircuitBreakers | None = None,
        *,
        wait_seconds: float = 0.0,
    ) -> None:
        self.registry = Registry(redis, prefix)
        self._redis = redis
        self._breakers = breakers
        self.wait_seconds = wait_seconds

    async def dispatch(
        self, agent_id: str | None, capability: str | None, task: AgentTask, task_token: bytes
    ) -> None:
        wanted = f"agent {agent_id!r}" if agent_id else f"capability {capability!r}"
        candidates = await self._candidates(task.tenant, agent_id, capability)
        if not candidates:
            if not self.wait_seconds:
                raise ApplicationError(
                    f"no connected agent with free capacity for {wanted} in tenant {task.tenant!r}",
                    type="RemoteUnavailable",
                )
            candidates = await self._wait_for_agent(task.tenant, agent_id, capability, wanted)
        affinity = getattr(task.agent, "affinity_key", None)
        if affinity is not None:
            candidates = await self._by_affinity(task.tenant, affinity, candidates)
        refusals: list[str] = []
        offered = 0
        for agent in candidates:
            if offered == CANDIDATES:
                break
            if not await self._allowed(task.tenant, agent.agent_id):
                refusals.append(f"{agent.agent_id}: circuit breaker open")
                continue
            offered += 1
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

    async def _candidates(
        self, tenant: str, agent_id: str | None, capability: str | None
    ) -> list[AgentRecord]:
        try:
            return await self.registry.candidates(tenant, agent_id, capability)
        except RedisError as exc:
            raise ApplicationError(
                f"the pool's registry (Redis) is unreachable: {exc}", type="RemoteUnavailable"
            ) from None

    async def _wait_for_agent(
        self, tenant: str, agent_id: str | None, capability: str | None, wanted: str
    ) -> list[AgentRecord]:
        """Look again until an agent can take the task, or fail for good after the wait."""
        deadline = time.monotonic() + self.wait_seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(LOOK_SECONDS)
            if activity.in_activity():
                activity.heartbeat(*activity.info().heartbeat_details)
            candidates = await self._candidates(tenant, agent_id, capability)
            if candidates:
                return candidates
        connect = f"`acc agent connect -c {capability}`" if capability else f"agent {agent_id!r}"
        raise ApplicationError(
            f"no remote agent could take the step: none connected with free capacity for "
            f"{wanted} in tenant {tenant!r} for {self.wait_seconds:g} s "
            f"(ACC_POOL_DISPATCH_WAIT_SECONDS); connect one ({connect}) and run it again",
            {"reason": "no agent connected", "wait_seconds": self.wait_seconds},
            type=NO_AGENT,
            non_retryable=True,
        )

    async def _allowed(self, tenant: str, agent_id: str) -> bool:
        if self._breakers is None:
            return True
        breaker = self._breakers.get(remote_agent_breaker(tenant, agent_id))
        try:
            return await breaker.allow()
        except RedisError:  # no shared state to read: the agent gets its chance
            return True

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
