"""`/v1/agents` on a real Redis: declared agents with their live load and breakers, every
breaker, and the router's dry run, with errors in the API's one shape."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from activities.resilience import BreakerConfig, CircuitBreakers, ConcurrencyLimiter
from api import errors
from api.deps import Services
from api.routes import agents
from core import db
from core.agents_config import AgentsConfig
from core.artifacts import ArtifactStore
from core.bus import EventBus
from core.settings import load_settings

pytestmark = pytest.mark.integration

DECLARED = {
    "agents": [
        {
            "name": "strong",
            "capabilities": {"code": 0.9, "review": 0.4},
            "capacity": 1,
            "tags": ["gpu"],
            "agent": {"backend": "llm", "model": "m", "prompt": "p"},
        },
        {
            "name": "weak",
            "capabilities": {"code": 0.5},
            "capacity": 2,
            "agent": {"backend": "shell", "command": "cat"},
        },
    ],
    "experiments": [
        {"name": "ab", "variants": [{"name": "a", "weight": 1, "strategy": "least_loaded"}]}
    ],
}


@dataclass
class Api:
    http: httpx.AsyncClient
    app: FastAPI
    breakers: CircuitBreakers
    leases: ConcurrencyLimiter


@pytest.fixture
async def api(redis_url: str, kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The agents router in an app whose state holds what the real lifespan provides."""
    settings = load_settings(
        REDIS_URL=redis_url,
        DATA_DIR=tmp_path,
        DATABASE_URL=f"sqlite:///{tmp_path / 'acc.db'}",
        DATABASE_SCHEMA=None,
        BREAKER_FAILURE_THRESHOLD=1,
        BREAKER_RESET_SECONDS=30,
        KAFKA_BOOTSTRAP=kafka_bootstrap,
    )
    engine, bus = db.create_engine(settings), EventBus.from_settings(settings)
    await bus.start()
    app = FastAPI()
    errors.install(app)
    app.include_router(agents.router)
    redis, prefix = Redis.from_url(redis_url), f"test-{uuid.uuid4().hex[:12]}:"
    app.state.services = Services(settings, engine, ArtifactStore(engine, 8192), bus)
    app.state.redis, app.state.redis_prefix = redis, prefix
    app.state.agents = AgentsConfig.model_validate(DECLARED)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://acc") as http:
        yield Api(
            http,
            app,
            CircuitBreakers(redis, BreakerConfig.from_settings(settings), prefix=prefix),
            ConcurrencyLimiter(redis, prefix=prefix),
        )
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
    await bus.stop()
    await engine.dispose()


async def test_agents_are_listed_with_their_load_and_breakers(api: Api) -> None:
    await api.leases.acquire("weak", 2)
    await api.breakers.agent("strong").record_failure()  # the threshold is 1: open

    resp = await api.http.get("/v1/agents")
    assert resp.status_code == 200, resp.text
    assert resp.json() == [
        {
            "name": "strong",
            "backend": "llm",
            "capabilities": {"code": 0.9, "review": 0.4},
            "capacity": 1,
            "in_flight": 0,
            "tags": ["gpu"],
            "enabled": True,
            "breaker": "open",
        },
        {
            "name": "weak",
            "backend": "shell",
            "capabilities": {"code": 0.5},
            "capacity": 2,
            "in_flight": 1,
            "tags": [],
            "enabled": True,
            "breaker": "closed",
        },
    ]

    await api.breakers.backend("shell").record_success()  # closed and unchanged: not stored
    await api.breakers.backend("llm").record_failure()
    breakers = (await api.http.get("/v1/agents/breakers")).json()
    assert [(b["key"], b["state"], b["allows"]) for b in breakers] == [
        ("agent:strong", "open", False),
        ("backend:llm", "open", False),
    ]
    assert breakers[0]["retry_at"] == pytest.approx(breakers[0]["opened_at"] + 30)


async def test_a_dry_run_routes_on_the_live_state_and_records_nothing(api: Api) -> None:
    resp = await api.http.post("/v1/agents/route", json={"capability": "code"})
    assert resp.status_code == 200, resp.text
    decision = resp.json()
    assert (decision["agent"], decision["backend"], decision["candidates"]) == ("strong", "llm", 2)
    assert decision["reasons"][-1].startswith("chose strong: balanced score 0.930")

    await api.breakers.agent("strong").record_failure()
    body = {"capability": "code", "affinity_key": "k", "experiment": "ab"}
    decision = (await api.http.post("/v1/agents/route", json=body)).json()
    assert (decision["agent"], decision["variant"]) == ("weak", "a")
    assert await api.leases.in_flight(["weak"]) == {"weak": 0}  # nothing was taken
    assert [key async for key in api.app.state.redis.scan_iter(match="*affinity*k")] == []


async def test_no_agent_available_is_a_503_saying_why_each_was_passed_over(api: Api) -> None:
    await api.breakers.agent("strong").record_failure()
    for _ in range(2):
        await api.leases.acquire("weak", 2)
    resp = await api.http.post("/v1/agents/route", json={"capability": "code"})
    assert resp.status_code == 503
    error = resp.json()["error"]
    assert error["type"] == "no_agent_available"
    assert error["details"] == {
        "capability": "code",
        "excluded": {"strong": "breaker open", "weak": "at capacity (2/2)"},
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"capability": "code", "min_skill": 2}, "min_skill"),
        ({"capability": ""}, "capability"),
        ({"capability": "code", "pick": "me"}, "pick"),
        ({"capability": "code", "experiment": "nope"}, "experiment"),
    ],
)
async def test_bad_requests_are_422s_naming_the_field(
    api: Api, body: dict[str, object], field: str
) -> None:
    resp = await api.http.post("/v1/agents/route", json=body)
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["type"] == "invalid_input"
    assert field in str(error["details"])


async def test_a_new_agents_file_is_picked_up_and_redis_down_is_a_503(api: Api) -> None:
    api.app.state.agents = AgentsConfig()
    assert (await api.http.get("/v1/agents")).json() == []

    api.app.state.redis = Redis.from_url("unix:///nonexistent/redis.sock")
    api.app.state.agents = AgentsConfig.model_validate(DECLARED)
    resp = await api.http.get("/v1/agents")
    assert resp.status_code == 503
    assert resp.json()["error"]["type"] == "service_unavailable"
    assert "Redis is unreachable at" in resp.json()["error"]["message"]
    await api.app.state.redis.aclose()
