"""Resilience state shared by every worker through Redis: circuit breakers, provider rate
limits and per-agent concurrency limits.

Circuit breakers, one per agent ("agent:<name>") and per backend ("backend:<name>"), the
keys the router reads (`routing.agent_breaker` / `routing.backend_breaker`). The state
machine is `BreakerRecord`, pure and clock-free so it is tested against a model:
closed --N failures within the window--> open --reset timeout--> half_open (one probe
at a time; a probe that never reports frees its slot after `probe_timeout_seconds`)
--success--> closed, --failure--> open. `CircuitBreaker` runs one transition per call in
WATCH/MULTI on the record's Redis key, so concurrent workers never lose an update (a
conflicting write redoes the transition on the fresh state); recovery needs no timer:
the first `allow()` after the reset timeout takes the probe.

Rate limits per provider: GCRA (one "theoretical arrival time" per limit) for requests and
tokens per minute, both checked and committed in one Lua script, so one call is either
counted in both or refused with how long to wait. A provider's 429 calls `block()`, which
makes every worker wait out its Retry-After; `retry_delay` is the backoff between attempts.

Concurrency per agent: a sorted set of leases scored by expiry; an acquire first drops
expired leases, so a crashed worker's slot frees itself once its lease lapses.

Times come from an injected clock (default `time.time`); workers must share one wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Literal, TypeVar

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import WatchError

from activities.routing import agent_breaker, backend_breaker
from core.errors import AccError
from core.events import Event
from core.settings import Settings

BreakerState = Literal["closed", "open", "half_open"]
Clock = Callable[[], float]
T = TypeVar("T")


class RateLimited(AccError):
    status_code = 429
    type = "rate_limited"

    def __init__(self, retry_after_seconds: float, provider: str = "") -> None:
        details = {"provider": provider, "retry_after_seconds": retry_after_seconds}
        super().__init__(
            f"rate limit of {provider!r} reached: retry in {retry_after_seconds:.3f}s", details
        )
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class BreakerConfig:
    failure_threshold: int = 5
    window_seconds: float = 60.0
    reset_seconds: float = 30.0
    probe_timeout_seconds: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> BreakerConfig:
        s = settings
        return cls(s.BREAKER_FAILURE_THRESHOLD, s.BREAKER_WINDOW_SECONDS, s.BREAKER_RESET_SECONDS)


@dataclass(frozen=True)
class BreakerRecord:
    """One breaker's state, and its transitions as pure functions of (state, now, config)."""

    state: BreakerState = "closed"
    failures: tuple[float, ...] = ()  # closed: failure times, the last `threshold` at most
    opened_at: float = 0.0
    probe_until: float = 0.0  # half_open: the probe holds the slot until then
    changed_at: float = 0.0

    def allows(self, now: float, config: BreakerConfig) -> bool:
        """Whether `allow` would let a call through now (it may take the probe)."""
        if self.state == "open":
            return now >= self.opened_at + config.reset_seconds
        return self.state == "closed" or now >= self.probe_until

    def allow(self, now: float, config: BreakerConfig) -> tuple[BreakerRecord, bool]:
        if self.state == "closed":
            return self, True
        if not self.allows(now, config):
            return self, False
        probe = now + config.probe_timeout_seconds
        if self.state == "open":
            return replace(self, state="half_open", probe_until=probe, changed_at=now), True
        return replace(self, probe_until=probe), True  # the last probe never reported

    def success(self, now: float, config: BreakerConfig) -> BreakerRecord:
        return BreakerRecord(changed_at=now) if self.state == "half_open" else self

    def failure(self, now: float, config: BreakerConfig) -> BreakerRecord:
        if self.state == "open":
            return self  # a call let through before it opened: the reset clock keeps running
        recent = (*(t for t in self.failures if t > now - config.window_seconds), now)
        if self.state == "half_open" or len(recent) >= config.failure_threshold:
            return BreakerRecord(state="open", opened_at=now, changed_at=now)
        return replace(self, failures=recent)

    def encode(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def decode(cls, raw: bytes | str | None) -> BreakerRecord:
        if raw is None:
            return cls()
        values = json.loads(raw)
        return cls(**{**values, "failures": tuple(values["failures"])})


class BreakerStatus(BaseModel):
    """What the API and metrics show of one breaker."""

    key: str
    state: BreakerState
    allows: bool
    failures: int
    opened_at: float | None = None
    retry_at: float | None = None  # open: when the probe may go
    changed_at: float | None = None
    previous: BreakerState | None = None  # set when the call that returned this changed it

    @classmethod
    def of(
        cls, key: str, record: BreakerRecord, now: float, config: BreakerConfig
    ) -> BreakerStatus:
        is_open = record.state == "open"
        return cls(
            key=key,
            state=record.state,
            allows=record.allows(now, config),
            failures=len([t for t in record.failures if t > now - config.window_seconds]),
            opened_at=record.opened_at if record.state != "closed" else None,
            retry_at=record.opened_at + config.reset_seconds if is_open else None,
            changed_at=record.changed_at or None,
        )


class CircuitBreaker:
    """One breaker, its state a JSON `BreakerRecord` at `<prefix>breaker:<key>`."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        config: BreakerConfig,
        *,
        prefix: str = "acc:",
        clock: Clock = time.time,
    ) -> None:
        self.key, self.config = key, config
        self._redis, self._clock = redis, clock
        self._record, self._index = f"{prefix}breaker:{key}", f"{prefix}breakers"

    async def allow(self) -> bool:
        """Whether to make the call; in half_open, True takes the single probe."""
        return (await self._transition(lambda r, now: r.allow(now, self.config)))[1]

    async def record_success(self) -> BreakerStatus:
        return (await self._transition(lambda r, now: (r.success(now, self.config), None)))[0]

    async def record_failure(self) -> BreakerStatus:
        return (await self._transition(lambda r, now: (r.failure(now, self.config), None)))[0]

    async def state(self) -> BreakerStatus:
        record = BreakerRecord.decode(await self._redis.get(self._record))
        return BreakerStatus.of(self.key, record, self._clock(), self.config)

    async def _transition(
        self, step: Callable[[BreakerRecord, float], tuple[BreakerRecord, T]]
    ) -> tuple[BreakerStatus, T]:
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(self._record)
                    before = BreakerRecord.decode(await pipe.get(self._record))
                    now = self._clock()
                    after, result = step(before, now)
                    if after != before:
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.set(self._record, after.encode())
                        pipe.sadd(self._index, self.key)
                        await pipe.execute()
                    break
                except WatchError:
                    continue  # another worker moved this breaker: redo it on the new state
        status = BreakerStatus.of(self.key, after, now, self.config)
        if after.state != before.state:
            status.previous = before.state
        return status, result


class CircuitBreakers:
    """Every breaker under one prefix: per agent, per backend, listed for the API."""

    def __init__(
        self, redis: Redis, config: BreakerConfig, *, prefix: str = "acc:", clock: Clock = time.time
    ) -> None:
        self.config, self._redis, self._prefix, self._clock = config, redis, prefix, clock

    def get(self, key: str) -> CircuitBreaker:
        return CircuitBreaker(self._redis, key, self.config, prefix=self._prefix, clock=self._clock)

    def agent(self, name: str) -> CircuitBreaker:
        return self.get(agent_breaker(name))

    def backend(self, name: str) -> CircuitBreaker:
        return self.get(backend_breaker(name))

    async def states(self) -> list[BreakerStatus]:
        """Every breaker that has ever recorded anything, sorted by key."""
        members = await self._redis.smembers(f"{self._prefix}breakers")
        keys = sorted(k.decode() if isinstance(k, bytes) else k for k in members)
        raws = await self._redis.mget([f"{self._prefix}breaker:{k}" for k in keys]) if keys else []
        now = self._clock()
        return [
            BreakerStatus.of(k, BreakerRecord.decode(raw), now, self.config)
            for k, raw in zip(keys, raws, strict=True)
        ]

    async def refusing(self) -> frozenset[str]:
        """Keys of breakers that refuse calls now: the router's `open_breakers`."""
        return frozenset(status.key for status in await self.states() if not status.allows)


def breaker_event(
    status: BreakerStatus, run_id: str, *, tenant: str = "default", source: str = "worker/agents"
) -> Event:
    """The "breaker.changed" event for a status whose `previous` is set."""
    return Event(
        type="breaker.changed",
        source=source,
        run_id=run_id,
        tenant=tenant,
        data=status.model_dump(mode="json"),
    )


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
