"""The guard around agent backends: routing, circuit breakers, concurrency and rate limits.

`run_agent` calls `AgentRuntime.run(ctx, publish)` rather than the backend itself, so every
worker applies the same shared limits (all kept in Redis, see breakers.py and limits.py):

1. A `routed` step asks `LiveRouter` (the router fed with every worker's in-flight leases,
   refusing breakers and affinity) for an agent, takes a lease on one of its `capacity`
   slots (re-routing if a race filled it), stores the affinity, publishes
   "routing.decided", and runs the chosen agent's spec (its prompt replaced by the step's
   when set). The lease is renewed from the activity's heartbeats and released at the end.
2. A call to a provider's API (an llm agent's provider; Anthropic for claude_code) waits
   its turn under the provider's ACC_RATE_LIMITS (llm tokens counted as `max_tokens`, the
   difference charged after; none configured: no quota); a provider's 429 (RateLimited
   from either backend) blocks every worker for its Retry-After, or a backoff when it sent
   none.
3. The call's breakers must let it through: the agent's ("agent:<name>", routed steps) and
   its backend's ("backend:<kind>").
4. After the call: an exception counts as a failure on every breaker; an agent that ran
   but failed (`outcome.error`) counts against the agent only, since its backend worked
   (a shell step's failing command must not take the shell backend from every run).
   Non-retryable errors (bad input or configuration) and 429s say nothing of health and
   count nowhere, nor does a remote step finding no connected agent (RemoteUnavailable).
   A breaker that changes state publishes "breaker.changed".

Refusals are `ApplicationError`s Temporal retries: NoAgentAvailable, AtCapacity,
CircuitOpen (after the breaker's reset), RateLimited (after the wait); NoAgentsDeclared,
InvalidRouting and BackendUnavailable are not retryable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from temporalio.exceptions import ApplicationError

from agents.base import AgentBackend, AgentContext, AgentOutcome
from agents.breakers import BreakerConfig, CircuitBreakers, Clock, breaker_event
from agents.config import AgentsConfig, DeclaredSpec
from agents.limits import ConcurrencyLimiter, Lease, RateLimited, RateLimiter, retry_delay
from agents.router import (
    NoAgentAvailable,
    RouteRequest,
    RoutingDecision,
    agent_breaker,
    backend_breaker,
    decision_event,
)
from core import telemetry
from core.contracts import AgentTask
from core.errors import NotFound
from core.events import Event
from core.settings import Settings
from core.specs import AgentSpec, ClaudeCodeAgent, LlmAgent, RoutedAgent

Publish = Callable[[Event], Awaitable[None]]
AFFINITY_TTL_SECONDS = 24 * 3600  # refreshed by every step routed under the key
ROUTE_ATTEMPTS = 3  # another worker may fill the chosen agent between decision and lease
RATE_WAIT_SECONDS = 2.0  # wait in the activity up to this (heartbeat timeout 5 s), then retry


class LiveRouter:
    """The declared agents' router, fed with the state all workers share in Redis."""

    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        agents: AgentsConfig,
        *,
        clock: Clock = time.time,
        degrade: bool = False,
    ) -> None:
        prefix = settings.REDIS_PREFIX
        self.agents, self.router = agents, agents.router()
        config = BreakerConfig.from_settings(settings)
        self.breakers = CircuitBreakers(redis, config, prefix=prefix, clock=clock, degrade=degrade)
        self.leases = ConcurrencyLimiter(
            redis, lease_seconds=settings.AGENT_LEASE_SECONDS, prefix=prefix, clock=clock
        )
        self._redis, self._prefix = redis, prefix

    async def decide(self, request: RouteRequest, tenant: str = "default") -> RoutingDecision:
        """The router's decision on the live load, breakers and affinity (nothing recorded).
        Raises NoAgentAvailable, or NotFound naming an unknown experiment."""
        names = {profile.name for _, _, profile in self.router.registry.capable(request.capability)}
        names |= {self.router.fallback_agent} if self.router.fallback_agent else set()
        load, refusing, affinity = await asyncio.gather(
            self.leases.in_flight(sorted(names)),
            self.breakers.refusing(),
            self._affinity(tenant, request.affinity_key),
        )
        try:
            return self.router.route(request, load=load, open_breakers=refusing, affinity=affinity)
        except ValueError as exc:  # an unknown experiment: a resource the request names
            declared = sorted(self.router.experiments)
            raise NotFound(
                f"{exc}; declared: {declared}", {"experiment": request.experiment}
            ) from None

    async def remember(self, tenant: str, affinity_key: str, agent: str) -> None:
        await self._redis.set(self._key(tenant, affinity_key), agent, ex=AFFINITY_TTL_SECONDS)

    async def _affinity(self, tenant: str, affinity_key: str | None) -> dict[str, str]:
        """The agent the key was routed to before, as the router's affinity map."""
        if affinity_key is None:
            return {}
        agent = await self._redis.get(self._key(tenant, affinity_key))
        agent = agent.decode() if isinstance(agent, bytes) else agent
        return {affinity_key: agent} if agent else {}

    def _key(self, tenant: str, affinity_key: str) -> str:
        return f"{self._prefix}affinity:{tenant}:{affinity_key}"


class _HeldLease:
    """A lease renewed from the activity's heartbeats, at most every third of its length."""

    def __init__(self, leases: ConcurrencyLimiter, lease: Lease, clock: Clock) -> None:
        self.lease, self._leases, self._clock = lease, leases, clock
        self._renewed_at = clock()
        self._renewal: asyncio.Task[None] | None = None

    def renewing(self, heartbeat: Callable[..., None]) -> Callable[..., None]:
        def beat(*details: Any) -> None:
            heartbeat(*details)
            due = self._clock() >= self._renewed_at + self._leases.lease_seconds / 3
            if due and (self._renewal is None or self._renewal.done()):
                self._renewed_at = self._clock()
                self._renewal = asyncio.get_running_loop().create_task(self._renew())

        return beat

    async def _renew(self) -> None:
        self.lease = await self._leases.renew(self.lease) or self.lease

    async def release(self) -> None:
        if self._renewal is not None:
            self._renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewal
        await self._leases.release(self.lease)


class AgentRuntime:
    """Runs a step's agent under its guards; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        backends: dict[str, AgentBackend],
        agents: AgentsConfig | None = None,
        *,
        clock: Clock = time.time,
    ) -> None:
        agents = agents or AgentsConfig()
        # Breakers degrade to per-process state without Redis, so plain steps still run.
        self.live = LiveRouter(settings, redis, agents, clock=clock, degrade=True)
        self._redis_url = settings.redis_url
        self._backends, self._clock = backends, clock
        self._redis, self._prefix = redis, settings.REDIS_PREFIX
        self._limiters = {
            provider: _limiter(redis, provider, limits, settings.REDIS_PREFIX, clock)
            for provider, limits in settings.RATE_LIMITS.items()
        }

    def _limiter(self, agent: AgentSpec) -> RateLimiter | None:
        """The shared limiter of the provider the agent calls; one without a quota when
        ACC_RATE_LIMITS names none, so the provider's 429 still holds every worker back."""
        provider = _provider(agent)
        if provider is None:
            return None
        if provider not in self._limiters:
            self._limiters[provider] = _NoQuota(
                self._redis, provider, prefix=self._prefix, clock=self._clock
            )
        return self._limiters[provider]

    async def run(self, ctx: AgentContext, publish: Publish) -> AgentOutcome:
        """The step's outcome from its agent (the router's choice for a routed step). What
        needs Redis (routing's leases and affinity, provider rate limits) fails as a
        retryable RedisUnavailable while it is unreachable."""
        try:
            return await self._run(ctx, publish)
        except RedisError as exc:
            raise ApplicationError(
                f"Redis is unreachable at {self._redis_url} ({exc}); step "
                f"{ctx.task.step_name!r} needs it (routing leases and affinity, or a provider "
                "rate limit) and is retried once it answers",
                type="RedisUnavailable",
                next_retry_delay=timedelta(seconds=5),
            ) from None

    async def _run(self, ctx: AgentContext, publish: Publish) -> AgentOutcome:
        if not isinstance(ctx.task.agent, RoutedAgent):
            return await self._guarded(ctx, None, publish)
        name, spec, lease = await self._route(ctx.task, ctx.task.agent, publish)
        held = _HeldLease(self.live.leases, lease, self._clock)
        task = ctx.task.model_copy(update={"agent": spec})
        try:
            return await self._guarded(
                replace(ctx, task=task, heartbeat=held.renewing(ctx.heartbeat)), name, publish
            )
        finally:
            await held.release()

    async def _route(
        self, task: AgentTask, routed: RoutedAgent, publish: Publish
    ) -> tuple[str, DeclaredSpec, Lease]:
        if not len(self.live.router.registry):
            raise ApplicationError(
                f"step {task.step_name!r} is routed but no agents are declared: set "
                "ACC_AGENTS_FILE on the workers",
                type="NoAgentsDeclared",
                non_retryable=True,
            )
        request = RouteRequest(
            capability=routed.capability,
            min_skill=routed.min_skill,
            affinity_key=routed.affinity_key,
            preferred=routed.preferred,
            experiment=routed.experiment,
            task_key=f"{task.run_id}/{task.step_index}",
        )
        for _ in range(ROUTE_ATTEMPTS):
            try:
                decision = await self.live.decide(request, task.tenant)
            except NoAgentAvailable as exc:
                raise ApplicationError(exc.message, exc.details, type="NoAgentAvailable") from None
            except NotFound as exc:
                raise ApplicationError(
                    exc.message, type="InvalidRouting", non_retryable=True
                ) from None
            declared = self.live.agents.declared(decision.agent)
            assert declared is not None  # the router knows only declared agents
            if lease := await self.live.leases.acquire(declared.name, declared.capacity):
                break
        else:
            raise ApplicationError(
                f"agent {decision.agent} filled up {ROUTE_ATTEMPTS} times while routing",
                type="AtCapacity",
                next_retry_delay=timedelta(seconds=1),
            )
        if routed.affinity_key is not None:
            await self.live.remember(task.tenant, routed.affinity_key, declared.name)
        await publish(
            decision_event(decision, task.run_id, tenant=task.tenant, step=task.step_name)
        )
        spec = declared.agent
        if routed.prompt and "prompt" in type(spec).model_fields:
            spec = spec.model_copy(update={"prompt": routed.prompt})
        return declared.name, spec, lease

    async def _guarded(self, ctx: AgentContext, name: str | None, publish: Publish) -> AgentOutcome:
        agent = ctx.task.agent
        backend = self._backends.get(agent.backend)
        if backend is None:
            raise ApplicationError(
                f"no {agent.backend!r} backend on this worker",
                type="BackendUnavailable",
                non_retryable=True,
            )
        agent_key = agent_breaker(name) if name else None
        keys = [k for k in (agent_key, backend_breaker(agent.backend)) if k]
        limiter = self._limiter(agent)
        estimate = agent.max_tokens if isinstance(agent, LlmAgent) else 0
        if limiter is not None:  # before the breakers: a refusal here must not hold a probe
            try:
                await limiter.acquire(estimate, max_wait=RATE_WAIT_SECONDS)
            except RateLimited as exc:
                delay = timedelta(seconds=exc.retry_after_seconds)
                raise ApplicationError(
                    exc.message, type="RateLimited", next_retry_delay=delay
                ) from None
        await self._allow(keys)
        try:
            with telemetry.span(
                f"backend {agent.backend}", step=ctx.task.step_name, run_id=ctx.task.run_id
            ):
                outcome = await backend.run(ctx)
        except Exception as exc:
            await self._failed(exc, ctx.task, keys, limiter, publish)
            raise
        if outcome.handed_off:  # the pool records the remote agent's outcome when it has one
            return outcome
        if limiter is not None:
            await limiter.charge(outcome.usage.tokens - estimate)
        failed = {key: key == agent_key and outcome.error is not None for key in keys}
        await self._record(ctx.task, failed, publish)
        return outcome

    async def _failed(
        self,
        exc: Exception,
        task: AgentTask,
        keys: list[str],
        limiter: RateLimiter | None,
        publish: Publish,
    ) -> None:
        if not isinstance(exc, ApplicationError):
            await self._record(task, dict.fromkeys(keys, True), publish)
        elif exc.type == "RateLimited":  # the provider's 429: all workers wait, health is fine
            if limiter is not None:
                delay = exc.next_retry_delay.total_seconds() if exc.next_retry_delay else None
                await limiter.block(retry_delay(1, delay))
        elif exc.type == "RemoteUnavailable":  # no remote agent connected yet: not health
            return
        elif not exc.non_retryable:  # non-retryable: bad input or configuration, not health
            await self._record(task, dict.fromkeys(keys, True), publish)

    async def _allow(self, keys: list[str]) -> None:
        for key in keys:
            breaker = self.live.breakers.get(key)
            if await breaker.allow():
                continue
            status = await breaker.state()
            wait = status.retry_at - self._clock() if status.retry_at is not None else None
            raise ApplicationError(
                f"circuit breaker {key} is {status.state.replace('_', '-')}: "
                + (f"calls resume in {wait:.1f}s" if wait is not None else "its probe is running"),
                status.model_dump(mode="json"),
                type="CircuitOpen",
                next_retry_delay=timedelta(seconds=max(wait, 0.1)) if wait is not None else None,
            )

    async def _record(self, task: AgentTask, failed: dict[str, bool], publish: Publish) -> None:
        """Report the call to each breaker (key: whether it failed); publish state changes."""
        for key, failure in failed.items():
            breaker = self.live.breakers.get(key)
            status = await (breaker.record_failure() if failure else breaker.record_success())
            if status.previous is not None:
                await publish(breaker_event(status, task.run_id, tenant=task.tenant))


class _NoQuota(RateLimiter):
    """A provider without ACC_RATE_LIMITS: no quota, only the hold its 429 puts on every
    worker. Without Redis there is nothing to share, and the call goes ahead."""

    async def try_acquire(self, tokens: int = 0) -> float:
        try:
            return await super().try_acquire(tokens)
        except RedisError:
            return 0.0

    async def charge(self, tokens: int) -> None:
        with contextlib.suppress(RedisError):
            await super().charge(tokens)

    async def block(self, retry_after_seconds: float) -> None:
        with contextlib.suppress(RedisError):
            await super().block(retry_after_seconds)


def _provider(agent: AgentSpec) -> str | None:
    if isinstance(agent, LlmAgent):
        return agent.provider
    return "anthropic" if isinstance(agent, ClaudeCodeAgent) else None


def _limiter(
    redis: Redis, provider: str, limits: dict[str, int], prefix: str, clock: Clock
) -> RateLimiter:
    if unknown := sorted(set(limits) - {"requests_per_minute", "tokens_per_minute"}):
        raise ValueError(
            f"ACC_RATE_LIMITS[{provider!r}] has unknown limits {unknown}: "
            "use requests_per_minute and tokens_per_minute"
        )
    rpm, tpm = limits.get("requests_per_minute", 0), limits.get("tokens_per_minute", 0)
    return RateLimiter(
        redis, provider, requests_per_minute=rpm, tokens_per_minute=tpm, prefix=prefix, clock=clock
    )
