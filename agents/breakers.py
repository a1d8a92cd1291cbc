"""Circuit breakers shared by every worker through Redis, one per agent ("agent:<name>") and
per backend ("backend:<name>"), the keys the router reads (`router.agent_breaker` /
`router.backend_breaker`).

The state machine is `BreakerRecord`, pure and clock-free so it is tested against a model:
closed --N failures within the window--> open --reset timeout--> half_open (one probe
at a time; a probe that never reports frees its slot after `probe_timeout_seconds`)
--success--> closed, --failure--> open. `CircuitBreaker` runs one transition per call in
WATCH/MULTI on the record's Redis key, so concurrent workers never lose an update (a
conflicting write redoes the transition on the fresh state); recovery needs no timer:
the first `allow()` after the reset timeout takes the probe. A worker that saw a breaker
closed with no failures trusts that for `QUIET_SECONDS` and skips Redis on the happy path
(a call and its success); any failure goes to Redis at once.

Times come from an injected clock (default `time.time`); workers must share one wall clock.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Literal, TypeVar

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from agents.router import agent_breaker, backend_breaker
from core.events import Event
from core.settings import Settings

log = logging.getLogger(__name__)
QUIET_SECONDS = 1.0  # how long a worker trusts "closed, no failures" without asking Redis
BreakerState = Literal["closed", "open", "half_open"]
Clock = Callable[[], float]
T = TypeVar("T")


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
    """One breaker, its state a JSON `BreakerRecord` at `<prefix>breaker:<key>`.

    With a `fallback` store, a Redis that does not answer degrades the breaker to this
    process's own state (kept in `fallback`, by key) instead of failing the call: the
    step runs, guarded by what this worker has seen."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        config: BreakerConfig,
        *,
        prefix: str = "acc:",
        clock: Clock = time.time,
        fallback: dict[str, BreakerRecord] | None = None,
        quiet: dict[str, float] | None = None,
    ) -> None:
        self.key, self.config = key, config
        self._redis, self._clock, self._fallback = redis, clock, fallback
        self._quiet = quiet
        self._record, self._index = f"{prefix}breaker:{key}", f"{prefix}breakers"

    async def allow(self) -> bool:
        """Whether to make the call; in half_open, True takes the single probe."""
        if self._is_quiet():
            return True
        return (await self._transition(lambda r, now: r.allow(now, self.config)))[1]

    async def record_success(self) -> BreakerStatus:
        if self._is_quiet():  # closed with no failures: a success changes nothing
            return BreakerStatus(key=self.key, state="closed", allows=True, failures=0)
        return (await self._transition(lambda r, now: (r.success(now, self.config), None)))[0]

    async def record_failure(self) -> BreakerStatus:
        return (await self._transition(lambda r, now: (r.failure(now, self.config), None)))[0]

    def _is_quiet(self) -> bool:
        """Whether this breaker was seen closed with no failures within QUIET_SECONDS: the
        happy path then skips Redis (a failure elsewhere shows here a second later)."""
        return self._quiet is not None and time.monotonic() < self._quiet.get(self.key, 0.0)

    async def state(self) -> BreakerStatus:
        record = BreakerRecord.decode(await self._redis.get(self._record))
        return BreakerStatus.of(self.key, record, self._clock(), self.config)

    async def _transition(
        self, step: Callable[[BreakerRecord, float], tuple[BreakerRecord, T]]
    ) -> tuple[BreakerStatus, T]:
        try:
            before, after, now, result = await self._shared(step)
        except RedisError as exc:
            if self._fallback is None:
                raise
            _warn_degraded(exc)
            before = self._fallback.get(self.key, BreakerRecord())
            now = self._clock()
            after, result = step(before, now)
            self._fallback[self.key] = after
        if self._quiet is not None:
            if after.state == "closed" and not after.failures:
                self._quiet[self.key] = time.monotonic() + QUIET_SECONDS
            else:
                self._quiet.pop(self.key, None)
        status = BreakerStatus.of(self.key, after, now, self.config)
        if after.state != before.state:
            status.previous = before.state
        return status, result

    async def _shared(
        self, step: Callable[[BreakerRecord, float], tuple[BreakerRecord, T]]
    ) -> tuple[BreakerRecord, BreakerRecord, float, T]:
        """One transition on the record every worker shares, under WATCH/MULTI."""
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
        return before, after, now, result


_warned_at = 0.0


def _warn_degraded(exc: BaseException) -> None:
    """Say once a minute that breakers run on this process's own state."""
    global _warned_at
    if time.monotonic() - _warned_at > 60:
        _warned_at = time.monotonic()
        log.warning("Redis unreachable (%s): circuit breakers use this process's own state", exc)


class CircuitBreakers:
    """Every breaker under one prefix: per agent, per backend, listed for the API. With
    `degrade=True` (the workers), each falls back to per-process state when Redis is
    unreachable (see CircuitBreaker)."""

    def __init__(
        self,
        redis: Redis,
        config: BreakerConfig,
        *,
        prefix: str = "acc:",
        clock: Clock = time.time,
        degrade: bool = False,
    ) -> None:
        self.config, self._redis, self._prefix, self._clock = config, redis, prefix, clock
        self._fallback: dict[str, BreakerRecord] | None = {} if degrade else None
        self._quiet: dict[str, float] | None = {} if degrade else None

    def get(self, key: str) -> CircuitBreaker:
        return CircuitBreaker(
            self._redis,
            key,
            self.config,
            prefix=self._prefix,
            clock=self._clock,
            fallback=self._fallback,
            quiet=self._quiet,
        )

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
