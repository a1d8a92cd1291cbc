"""Breakers, rate limits and concurrency leases shared through a real Redis by two workers
(two separate clients), on a fake clock both read so time is exact."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from agents.breakers import BreakerConfig, CircuitBreakers
from agents.limits import ConcurrencyLimiter, RateLimited, RateLimiter

pytestmark = pytest.mark.integration


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def workers(redis_url: str) -> AsyncIterator[tuple[Redis, Redis, str]]:
    """Two clients of the same Redis, and a key prefix no other test uses."""
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    yield first, second, prefix
    keys = [key async for key in first.scan_iter(match=f"{prefix}*")]
    if keys:
        await first.delete(*keys)
    await first.aclose()
    await second.aclose()


async def test_breaker_state_is_shared_by_two_workers(workers: tuple[Redis, Redis, str]) -> None:
    one, two, prefix = workers
    clock = FakeClock()
    config = BreakerConfig(failure_threshold=3, window_seconds=60, reset_seconds=30)
    a, b = (CircuitBreakers(r, config, prefix=prefix, clock=clock) for r in (one, two))

    assert (await a.agent("coder").record_failure()).previous is None
    await b.agent("coder").record_failure()
    opened = await a.agent("coder").record_failure()
    assert (opened.previous, opened.state) == ("closed", "open")
    assert not await b.agent("coder").allow()
    assert await b.refusing() == {"agent:coder"}

    clock.now += 30  # reset timeout: exactly one of the two workers gets the probe
    assert sorted(await asyncio.gather(a.agent("coder").allow(), b.agent("coder").allow())) == [
        False,
        True,
    ]
    assert (await a.agent("coder").state()).state == "half_open"
    closed = await b.agent("coder").record_success()
    assert (closed.previous, closed.state) == ("half_open", "closed")
    await a.backend("llm").record_failure()
    states = await b.states()
    assert [(s.key, s.state, s.failures) for s in states] == [
        ("agent:coder", "closed", 0),
        ("backend:llm", "closed", 1),
    ]


async def test_concurrent_failures_from_two_workers_are_all_counted(
    workers: tuple[Redis, Redis, str],
) -> None:
    one, two, prefix = workers
    config = BreakerConfig(failure_threshold=41, window_seconds=60)
    a, b = (CircuitBreakers(r, config, prefix=prefix) for r in (one, two))
    await asyncio.gather(*(w.backend("llm").record_failure() for w in (a, b) for _ in range(20)))
    status = await a.backend("llm").state()
    assert (status.state, status.failures) == ("closed", 40)
    assert (await b.backend("llm").record_failure()).state == "open"


async def test_requests_and_tokens_per_minute_hold_across_workers(
    workers: tuple[Redis, Redis, str],
) -> None:
    one, two, prefix = workers
    clock = FakeClock()
    a, b = (
        RateLimiter(
            r,
            "openai",
            requests_per_minute=10,
            tokens_per_minute=1_000,
            prefix=prefix,
            clock=clock,
            sleep=clock.sleep,
        )
        for r in (one, two)
    )
    for i in range(10):
        assert await (a if i % 2 else b).try_acquire() == 0
    assert await a.try_acquire() == pytest.approx(6.0)  # 60 s / 10 requests
    assert await b.try_acquire() == pytest.approx(6.0)  # refused calls are not counted
    clock.now += 6
    assert await b.try_acquire() == 0

    clock.now += 60  # a fresh minute: now tokens are the limit
    assert await a.try_acquire(tokens=600) == 0
    assert await b.try_acquire(tokens=500) == pytest.approx(6.0)  # 100 tokens over, 60 ms each
    assert await b.try_acquire(tokens=400) == 0
    with pytest.raises(RateLimited) as raised:
        await a.acquire(tokens=100, max_wait=5)
    assert raised.value.retry_after_seconds == pytest.approx(6.0)
    await b.acquire(tokens=100, max_wait=6)  # sleeps on the fake clock, then gets it
    assert clock.now == pytest.approx(1_800_000_072.0)


async def test_a_429_makes_every_worker_wait_and_usage_is_charged(
    workers: tuple[Redis, Redis, str],
) -> None:
    one, two, prefix = workers
    clock = FakeClock()
    a, b = (
        RateLimiter(r, "anthropic", tokens_per_minute=600, prefix=prefix, clock=clock)
        for r in (one, two)
    )
    await a.block(retry_after_seconds=5)
    await b.block(retry_after_seconds=1)  # a shorter Retry-After never shortens the block
    assert await b.try_acquire(tokens=1) == pytest.approx(5.0)
    clock.now += 5
    assert await b.try_acquire(tokens=100) == 0
    await a.charge(500)  # the response said 600 were used in all
    assert await b.try_acquire(tokens=10) == pytest.approx(1.0)


async def test_concurrency_leases_are_shared_and_expire(workers: tuple[Redis, Redis, str]) -> None:
    one, two, prefix = workers
    clock = FakeClock()
    a, b = (ConcurrencyLimiter(r, lease_seconds=30, prefix=prefix, clock=clock) for r in (one, two))
    first = await a.acquire("coder", limit=2)
    second = await b.acquire("coder", limit=2)
    assert first and second and await a.acquire("coder", limit=2) is None
    assert await b.in_flight(["coder", "idle"]) == {"coder": 2, "idle": 0}

    await b.release(second)
    clock.now += 20
    crashed = await b.acquire("coder", limit=2)  # its worker dies holding the lease
    assert crashed and await a.acquire("coder", limit=2) is None
    clock.now += 5
    renewed = await a.renew(first)  # the heartbeat of a live task
    assert renewed and renewed.expires_at == clock.now + 30
    clock.now += 25.5  # `crashed` lapsed at +50; `first` now lives until +55
    assert await a.in_flight(["coder"]) == {"coder": 1}
    assert await b.renew(crashed) is None
    assert await a.acquire("coder", limit=2) is not None
