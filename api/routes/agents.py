"""`/v1/agents`: the declared agents with their live load, every circuit breaker, and a dry
run of the router.

The state is the one every worker shares in Redis (leases, breakers, affinity, under
ACC_REDIS_PREFIX), read through the API's router over the agents file (ACC_AGENTS_FILE).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from agents.breakers import BreakerState, BreakerStatus
from agents.config import DeclaredAgent
from agents.router import NoAgentAvailable, RouteRequest, RoutingDecision, agent_breaker
from api.deps import RedisDep, RouterDep, SettingsDep
from api.errors import documented
from api.security import Reader
from core.errors import Conflict, ServiceUnavailable
from pool.registry import Registry


class NoAgentNow(Conflict):
    """The dry run's answer when no agent could take the task now."""

    type = "no_agent_available"


router = APIRouter(prefix="/v1/agents", tags=["agents"])


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
async def list_agents(_: Reader, live: RouterDep, settings: SettingsDep) -> list[AgentView]:
    """The agents declared in ACC_AGENTS_FILE, with their tasks in flight and breaker state."""
    declared = live.agents.agents
    with _redis(settings.redis_url):
        load = await live.leases.in_flight(agent.name for agent in declared)
        states = {status.key: status.state for status in await live.breakers.states()}
    return [AgentView.of(a, load[a.name], states.get(agent_breaker(a.name))) for a in declared]


class ConnectedAgent(BaseModel):
    agent_id: str
    node: str = Field(description="The pool node holding its connection")
    capabilities: list[str]
    capacity: int
    load: int = Field(description="Tasks it runs now")
    connected_at: float = Field(description="Unix time of its connection")
    labels: dict[str, str]


class PoolView(BaseModel):
    nodes: list[str] = Field(description="Live pool nodes")
    agents: list[ConnectedAgent] = Field(description="The tenant's agents connected to them")


@router.get("/connected", operation_id="agents-connected")
async def connected_agents(caller: Reader, redis: RedisDep, settings: SettingsDep) -> PoolView:
    """Remote agents connected to any node of the WebSocket pool (`acc agent connect`), of
    the caller's tenant, with their load, from the registry the nodes share in Redis."""
    registry = Registry(redis, settings.REDIS_PREFIX)
    with _redis(settings.redis_url):
        nodes = await registry.nodes()
        agents = await registry.agents(caller.tenant)
    return PoolView(
        nodes=sorted(nodes), agents=[ConnectedAgent.model_validate(a.view()) for a in agents]
    )


@router.get("/breakers", operation_id="agents-breakers")
async def list_breakers(_: Reader, live: RouterDep, settings: SettingsDep) -> list[BreakerStatus]:
    """Every circuit breaker that has recorded a call ("agent:<name>", "backend:<kind>"):
    its state, recent failures, and when an open one lets a probe call through."""
    with _redis(settings.redis_url):
        return await live.breakers.states()


@router.post("/route", operation_id="agents-route", responses=documented(404, 409))
async def route(
    caller: Reader, task: RouteRequest, live: RouterDep, settings: SettingsDep
) -> RoutingDecision:
    """Dry run: which agent a routed step with these fields would get now, and why.

    Uses the live load, breakers and affinity, and records nothing. An experiment that is
    not declared is a 404. When no agent can
    take the task, 409 `no_agent_available` says why each was passed over (a routed step
    would wait and retry; this question has its answer).
    """
    with _redis(settings.redis_url):
        try:
            return await live.decide(task, caller.tenant)
        except NoAgentAvailable as exc:
            raise NoAgentNow(exc.message, exc.details) from None
