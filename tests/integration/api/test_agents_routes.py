"""`/v1/agents` on a real Redis: declared agents with their live load and breakers, every
breaker, and the router's dry run, with errors in the API's one shape."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from agents.breakers import BreakerConfig, CircuitBreakers
from agents.limits import ConcurrencyLimiter
from core.settings import Settings, load_settings
from tests.conftest import api_client

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
    redis: Redis
    prefix: str
    breakers: CircuitBreakers
    leases: ConcurrencyLimiter


def api_settings(tmp_path: Path, redis_url: str, kafka_bootstrap: str, **extra: Any) -> Settings:
    agents_file = tmp_path / "agents.json"
    agents_file.write_text(json.dumps(DECLARED))
    values: dict[str, Any] = {
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": f"test-{uuid.uuid4().hex[:12]}:",
        "DATA_DIR": tmp_path,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'acc.db'}",
        "DATABASE_SCHEMA": None,
        "BREAKER_FAILURE_THRESHOLD": 1,
        "BREAKER_RESET_SECONDS": 30,
        "KAFKA_BOOTSTRAP": kafka_bootstrap,
        "AGENTS_FILE": agents_file,
        **extra,
    }
    return load_settings(**values)


@pytest.fixture
async def api(redis_url: str, kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The real API app (its lifespan builds the router over the agents file), and the
    breakers and leases the workers would write, on a key prefix of the test's own."""
    settings = api_settings(tmp_path, redis_url, kafka_bootstrap)
    prefix = settings.REDIS_PREFIX
    redis = Redis.from_url(redis_url)
    async with api_client(settings) as http:
        yield Api(
            http,
            redis,
            prefix,
            CircuitBreakers(redis, BreakerConfig.from_settings(settings), prefix=prefix),
            ConcurrencyLimiter(redis, prefix=prefix),
        )
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


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
    assert [key async for key in api.redis.scan_iter(match=f"{api.prefix}*affinity*")] == []


async def test_no_agent_available_is_a_409_saying_why_each_was_passed_over(api: Api) -> None:
    await api.breakers.agent("strong").record_failure()
    for _ in range(2):
        await api.leases.acquire("weak", 2)
    resp = await api.http.post("/v1/agents/route", json={"capability": "code"})
    assert resp.status_code == 409
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
        ({"capability": "code", "tags": "gpu"}, "tags"),
        ({"capability": "code", "min_skill": False}, "min_skill"),
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


async def test_an_experiment_not_declared_is_a_404_naming_those_that_are(api: Api) -> None:
    resp = await api.http.post("/v1/agents/route", json={"capability": "code", "experiment": "x"})
    assert resp.status_code == 404
    error = resp.json()["error"]
    assert error["details"] == {"experiment": "x"} and "declared: ['ab']" in error["message"]


async def test_without_an_agents_file_no_agent_is_listed(
    redis_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = api_settings(tmp_path, redis_url, kafka_bootstrap, AGENTS_FILE=None)
    async with api_client(settings) as http:
        assert (await http.get("/v1/agents")).json() == []


async def test_redis_down_is_a_503_naming_it(kafka_bootstrap: str, tmp_path: Path) -> None:
    nowhere = "unix:///nonexistent/redis.sock"
    async with api_client(api_settings(tmp_path, nowhere, kafka_bootstrap)) as http:
        resp = await http.get("/v1/agents")
    assert resp.status_code == 503
    assert resp.json()["error"]["type"] == "service_unavailable"
    assert "Redis is unreachable at" in resp.json()["error"]["message"]
