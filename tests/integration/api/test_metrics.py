"""`/metrics` shows the breakers every worker shares, read from the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from agents.breakers import BreakerConfig, CircuitBreakers
from core.settings import Settings
from tests.conftest import api_client

pytestmark = pytest.mark.integration


async def test_metrics_expose_breaker_states(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    name = f"metrics-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(settings.redis_url)
    prefix = settings.REDIS_PREFIX
    breakers = CircuitBreakers(redis, BreakerConfig(failure_threshold=2), prefix=prefix)
    try:
        await breakers.agent(name).record_failure()
        await breakers.agent(name).record_failure()
        async with api_client(settings) as http:
            await http.get("/healthz")
            resp = await http.get("/metrics")
    finally:
        await redis.delete(f"{prefix}breaker:agent:{name}", f"{prefix}breakers")
        await redis.aclose()
    assert resp.status_code == 200
    text = resp.text
    assert f'acc_breaker_state{{key="agent:{name}",state="open"}} 1.0' in text
    assert f'acc_breaker_state{{key="agent:{name}",state="closed"}} 0.0' in text
    assert f'acc_breaker_failures{{key="agent:{name}"}}' in text
    assert "acc_redis_up 1.0" in text
    assert 'acc_api_events_total{outcome="published"}' in text
    # This API's own requests, by route template and status.
    assert 'acc_api_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'acc_api_request_duration_seconds_count{method="GET",route="/healthz"} 1.0' in text
