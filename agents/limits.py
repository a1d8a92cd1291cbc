"""Limits shared by every worker through Redis: provider rate limits and per-agent
concurrency.

Rate limits per provider: GCRA (one "theoretical arrival time" per limit) for requests and
tokens per minute, both checked and committed in one Lua script, so one call is either
counted in both or refused with how long to wait. A provider's 429 calls `block()`, which
makes every worker wait out its Retry-After; `retry_delay` is the backoff between attempts.

Concurrency per agent: a sorted set of leases scored by expiry; an acquire first drops
expired leases, so a crashed worker's slot frees itself once its lease lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime

from redis.asyncio import Redis

from agents.breakers import Clock
from core.errors import AccError


class RateLimited(AccError):
    status_code = 429
    type = "rate_limited"

    def __init__(self, retry_after_seconds: float, provider: str = "") -> None:
        details = {"provider": provider, "retry_after_seconds": retry_after_seconds}
        super().__init__(
            f"rate limit of {provider!r} reached: retry in {retry_after_seconds:.3f}s", details
        )
        self.retry_after_seconds = retry_after_seconds


# KEYS: request TAT, token TAT, blocked-until. ARGV: now, period, rpm, tpm, requests, tokens,
# force. GCRA: a limit of L per period admits a cost c when max(TAT, now) + c * period / L
# lies at most one period ahead of now. Returns "0" when counted, else the seconds to wait.
_RATE_SCRIPT = """
local now, period = tonumber(ARGV[1]), tonumber(ARGV[2])
local blocked = tonumber(redis.call('GET', KEYS[3]) or '0')
if blocked > now and ARGV[7] ~= '1' then return string.format('%.6f', blocked - now) end
local wait, tats = 0, {}
for i = 1, 2 do
  local limit, cost = tonumber(ARGV[2 + i]), tonumber(ARGV[4 + i])
  if limit > 0 and cost > 0 then
    local tat = math.max(tonumber(redis.call('GET', KEYS[i]) or '0'), now)
    tats[i] = tat + cost * period / limit
    wait = math.max(wait, tats[i] - now - period)
  end
end
if wait > 1e-6 and ARGV[7] ~= '1' then return string.format('%.6f', wait) end
for i, tat in pairs(tats) do
  redis.call('SET', KEYS[i], string.format('%.6f', tat), 'PX', math.ceil((tat - now) * 1000) + 1)
end
return '0'
"""
_BLOCK_SCRIPT = """
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
"""


class RateLimiter:
    """Requests and tokens per minute of one provider, shared by all workers (0 = no limit)."""

    def __init__(
        self,
        redis: Redis,
        provider: str,
        *,
        requests_per_minute: int = 0,
        tokens_per_minute: int = 0,
        prefix: str = "acc:",
        clock: Clock = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.provider, self.rpm, self.tpm = provider, requests_per_minute, tokens_per_minute
        self._clock, self._sleep = clock, sleep
        base = f"{prefix}ratelimit:{provider}"
        self._keys = [f"{base}:requests", f"{base}:tokens", f"{base}:blocked"]
        self._rate = redis.register_script(_RATE_SCRIPT)
        self._block = redis.register_script(_BLOCK_SCRIPT)

    async def try_acquire(self, tokens: int = 0) -> float:
        """Count one request of `tokens` and return 0, or count nothing and return the wait.

        A request larger than the whole token limit is counted as the whole limit: it waits
        for a full minute's budget instead of never running.
        """
        return await self._run(1, min(tokens, self.tpm) if self.tpm else tokens, force=False)

    async def acquire(self, tokens: int = 0, *, max_wait: float = 0.0) -> None:
        """Wait up to `max_wait` seconds in all for room, else raise `RateLimited`."""
        deadline = self._clock() + max_wait
        while wait := await self.try_acquire(tokens):
            if self._clock() + wait > deadline:
                raise RateLimited(wait, self.provider)
            await self._sleep(wait)

    async def charge(self, tokens: int) -> None:
        """Count tokens used beyond what was acquired (the usage the response reported)."""
        if tokens > 0:
            await self._run(0, tokens, force=True)

    async def block(self, retry_after_seconds: float) -> None:
        """The provider answered 429: make every worker wait `retry_after_seconds`."""
        until = self._clock() + retry_after_seconds
        expiry_ms = max(1, int(retry_after_seconds * 1000))
        await self._block(keys=[self._keys[2]], args=[f"{until:.6f}", str(expiry_ms)])

    async def _run(self, requests: int, tokens: int, *, force: bool) -> float:
        now = f"{self._clock():.6f}"
        args = (now, 60, self.rpm, self.tpm, requests, tokens, int(force))
        return float(await self._rate(keys=self._keys, args=args))


def retry_delay(
    attempt: int,
    retry_after: float | None = None,
    *,
    base: float = 1.0,
    cap: float = 60.0,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Seconds before retry `attempt` (1-based) of a refused call: the provider's Retry-After
    when it sent one, else exponential backoff with full jitter."""
    if retry_after is not None:
        return max(0.0, retry_after)
    return jitter() * min(cap, base * 2.0 ** (attempt - 1))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if value:
        with contextlib.suppress(ValueError):
            return max(0.0, float(value))
        with contextlib.suppress(TypeError, ValueError):
            return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    return None


# KEYS: lease set. ARGV: now, expiry, limit, lease id. Expired leases go first: that is
# how a crashed worker's slot comes back.
_ACQUIRE_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
return 1
"""
_RENEW_SCRIPT = """
local expiry = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[3]) or '0')
if expiry <= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
return 1
"""


@dataclass(frozen=True)
class Lease:
    agent: str
    expires_at: float
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


class ConcurrencyLimiter:
    """At most `limit` tasks per agent across all workers, held as expiring leases."""

    def __init__(
        self,
        redis: Redis,
        *,
        lease_seconds: float = 60.0,
        prefix: str = "acc:",
        clock: Clock = time.time,
    ) -> None:
        self.lease_seconds, self._clock = lease_seconds, clock
        self._redis, self._prefix = redis, prefix
        self._acquire = redis.register_script(_ACQUIRE_SCRIPT)
        self._renew = redis.register_script(_RENEW_SCRIPT)

    async def acquire(self, agent: str, limit: int) -> Lease | None:
        """A lease on one of the agent's `limit` slots, or None when all are taken."""
        now = self._clock()
        lease = Lease(agent, now + self.lease_seconds)
        args: list[str | float] = [repr(now), repr(lease.expires_at), limit, lease.id]
        granted = await self._acquire(keys=[self._key(agent)], args=args)
        return lease if granted else None

    async def renew(self, lease: Lease) -> Lease | None:
        """Extend a live lease (call it from the activity heartbeat); None if it lapsed."""
        now = self._clock()
        renewed = replace(lease, expires_at=now + self.lease_seconds)
        args = [repr(now), repr(renewed.expires_at), lease.id]
        ok = await self._renew(keys=[self._key(lease.agent)], args=args)
        return renewed if ok else None

    async def release(self, lease: Lease) -> None:
        await self._redis.zrem(self._key(lease.agent), lease.id)

    async def in_flight(self, agents: Iterable[str]) -> dict[str, int]:
        """Live leases per agent: the router's `load` snapshot."""
        names, now = list(agents), repr(self._clock())
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.zcount(self._key(name), f"({now}", "+inf")
            counts = await pipe.execute()
        return dict(zip(names, map(int, counts), strict=True))

    def _key(self, agent: str) -> str:
        return f"{self._prefix}concurrency:{agent}"
