"""`/v1/agents`: the declared agents with their live load, every circuit breaker, and a dry
run of the router.

The state is the one every worker shares in Redis (leases, breakers, affinity), read with
the application's Redis client (`app.state.redis`) and agents file (`app.state.agents`,
an `AgentsConfig`); `app.state.redis_prefix` (default "acc:") must match the workers'.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from activities.agents.runtime import LiveRouter
from activities.resilience import BreakerState, BreakerStatus
from activities.routing import RouteRequest, RoutingDecision, agent_breaker
from api.deps import ServicesDep
from core.agents_config import DeclaredAgent
from core.errors import ServiceUnavailable

router = APIRouter(prefix="/v1/agents", tags=["agents"])


def get_live_router(request: Request, services: ServicesDep) -> LiveRouter:
    """The router over `app.state.agents` and `app.state.redis`, built once per agents file."""
    state = request.app.state
    live: LiveRouter | None = getattr(state, "live_router", None)
    if live is None or live.agents is not state.agents:
        prefix = getattr(state, "redis_prefix", "acc:")
        live = LiveRouter(services.settings, state.redis, state.agents, prefix=prefix)
        state.live_router = live
    return live


LiveRouterDep = Annotated[LiveRouter, Depends(get_live_router)]


@contextmanager
def _redis(url: str) -> Iterator[None]:
    """A Redis that does not answer is a 503 naming it, not a 500."""
    try:
        yield
    except RedisError as exc:
        raise ServiceUnavailable(f"Redis is unreachable at {url}: {exc}", {"url": url}) from None


class AgentView(BaseModel):
    name: str
    backend: str
    capabilities: dict[str, float] = Field(description="Skill 0..1 per capability")
    capacity: int
    in_flight: int = Field(description="Tasks it runs now, across all workers")
    tags: list[str]
    enabled: bool
    breaker: BreakerState = Field(description="State of its circuit breaker")

    @classmethod
    def of(cls, agent: DeclaredAgent, in_flight: int, breaker: BreakerState | None) -> AgentView:
        return cls(
            name=agent.name,
            backend=agent.agent.backend,
            capabilities=agent.capabilities,
            capacity=agent.capacity,
            in_flight=in_flight,
            tags=sorted(agent.tags),
            enabled=agent.enabled,
            breaker=breaker or "closed",
        )


@router.get("", operation_id="agents-list")
async def list_agents(live: LiveRouterDep, services: ServicesDep) -> list[AgentView]:
    """The agents declared in ACC_AGENTS_FILE, with their tasks in flight and breaker state."""
    declared = live.agents.agents
    with _redis(services.settings.redis_url):
        load = await live.leases.in_flight(agent.name for agent in declared)
        states = {status.key: status.state for status in await live.breakers.states()}
    return [AgentView.of(a, load[a.name], states.get(agent_breaker(a.name))) for a in declared]


@router.get("/breakers", operation_id="agents-breakers")
async def list_breakers(live: LiveRouterDep, services: ServicesDep) -> list[BreakerStatus]:
    """Every circuit breaker that has recorded a call ("agent:<name>", "backend:<kind>"):
    its state, recent failures, and when an open one lets a probe call through."""
    with _redis(services.settings.redis_url):
        return await live.breakers.states()


@router.post("/route", operation_id="agents-route")
async def route(task: RouteRequest, live: LiveRouterDep, services: ServicesDep) -> RoutingDecision:
    """Dry run: which agent a routed step with these fields would get now, and why.

    Uses the live load, breakers and affinity, and records nothing. When no agent can
    take the task, 503 `no_agent_available` says why each was passed over.
    """
    with _redis(services.settings.redis_url):
        return await live.decide(task, services.settings.TENANT)
