"""The agent runtime against a real Redis (routing on live state, breakers, leases, rate
limits), the real llm backend against a real local server, and a remote step completed
asynchronously through a real Temporal server. Time is a fake clock every piece shares."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from agents.backends.llm import LlmBackend
from agents.backends.remote import RemoteBackend
from agents.base import AgentContext, AgentOutcome
from agents.config import AgentsConfig
from agents.limits import RateLimiter
from agents.runtime import AgentRuntime
from core import db
from core import redis as redis_client
from core.bus import EventBus
from core.contracts import (
    WORKFLOW_OF_PATTERN,
    AgentResult,
    AgentTask,
    Output,
    RunInput,
    RunState,
    Usage,
)
from core.events import Event
from core.settings import Settings, load_settings
from core.specs import parse_spec
from tests.support.openai_compatible_server import OpenAICompatibleServer
from workers.main import build_workers

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0
NO_PROVIDER = {"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None, "LLM_PRICES_FILE": None}
AGENTS = {
    "agents": [
        {
            "name": "strong",
            "capabilities": {"code": 0.9},
            "capacity": 1,
            "agent": {"backend": "llm", "model": "m", "prompt": "their prompt"},
        },
        {
            "name": "weak",
            "capabilities": {"code": 0.5},
            "capacity": 2,
            "agent": {"backend": "shell", "command": "cat"},
        },
    ]
}


class FakeClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    """Records each call, then runs the next scripted behaviour (default: answer "ok")."""

    script: list[Callable[[AgentContext], Awaitable[AgentOutcome]]] = field(default_factory=list)
    seen: list[AgentContext] = field(default_factory=list)

    async def run(self, ctx: AgentContext) -> AgentOutcome:
        self.seen.append(ctx)
        return await (self.script.pop(0)(ctx) if self.script else _ok(ctx))


async def _ok(ctx: AgentContext) -> AgentOutcome:
    return AgentOutcome(text="ok")


def raising(error: BaseException) -> Callable[[AgentContext], Awaitable[AgentOutcome]]:
    async def run(ctx: AgentContext) -> AgentOutcome:
        raise error

    return run


@dataclass
class Harness:
    runtime: AgentRuntime
    backend: Backend
    clock: FakeClock
    redis: Redis
    prefix: str
    events: list[Event] = field(default_factory=list)

    async def publish(self, event: Event) -> None:
        self.events.append(event)

    async def run(
        self, agent: dict[str, Any], index: int = 0, beat: Callable[..., None] = lambda *_: None
    ) -> AgentOutcome:
        task = AgentTask.model_validate(
            {
                "run_id": "run-1",
                "tenant": "t1",
                "step_index": index,
                "step_name": f"s{index}",
                "agent": agent,
            }
        )
        ctx = AgentContext(task, "the input", Path("."), beat, _no_emit)
        return await self.runtime.run(ctx, self.publish)

    async def refused(self, agent: dict[str, Any]) -> ApplicationError:
        with pytest.raises(ApplicationError) as caught:
            await self.run(agent)
        return caught.value

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event.data for event in self.events if event.type == kind]


async def _no_emit(kind: str, data: dict[str, Any]) -> None:
    pass


@pytest.fixture
async def make(redis_url: str) -> AsyncIterator[Callable[..., Harness]]:
    """A runtime on its own key prefix, its settings overridden by the test."""
    redis, prefix = Redis.from_url(redis_url), f"test-{uuid.uuid4().hex[:12]}:"
    made: list[AgentRuntime] = []

    def build(
        backends: dict[str, Any] | None = None, agents: dict[str, Any] = AGENTS, **settings: Any
    ) -> Harness:
        clock, backend = FakeClock(), Backend()
        values = {
            "BREAKER_FAILURE_THRESHOLD": 2,
            "BREAKER_RESET_SECONDS": 30,
            "AGENT_LEASE_SECONDS": 60,
            "REDIS_PREFIX": prefix,
            **NO_PROVIDER,
            **settings,
        }
        runtime = AgentRuntime(
            load_settings(**values),
            redis,
            backends or {"llm": backend, "shell": backend},
            AgentsConfig.model_validate(agents),
            clock=clock,
        )
        made.append(runtime)
        return Harness(runtime, backend, clock, redis, prefix)

    yield build
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


ROUTED = {"backend": "routed", "capability": "code"}


async def test_a_routed_step_runs_the_chosen_agent_and_publishes_why(
    make: Callable[..., Harness],
) -> None:
    h = make()
    in_flight: list[dict[str, int]] = []

    async def busy(ctx: AgentContext) -> AgentOutcome:
        in_flight.append(await h.runtime.live.leases.in_flight(["strong", "weak"]))
        return AgentOutcome(text="done")

    h.backend.script.append(busy)
    outcome = await h.run({**ROUTED, "prompt": "review this", "affinity_key": "feature-1"})

    assert outcome.text == "done"
    spec = h.backend.seen[0].task.agent
    assert spec.backend == "llm" and spec.prompt == "review this"  # the step's prompt wins
    assert in_flight == [{"strong": 1, "weak": 0}]  # its lease, held during the call...
    assert await h.runtime.live.leases.in_flight(["strong"]) == {"strong": 0}  # ...and freed
    [decided] = [e for e in h.events if e.type == "routing.decided"]
    assert (decided.run_id, decided.tenant, decided.step) == ("run-1", "t1", "s0")
    assert decided.data["agent"] == "strong" and decided.data["affinity_key"] == "feature-1"
    assert decided.data["reasons"][-1].startswith("chose strong: balanced score")

    # The affinity key keeps the agent it got first, here through `preferred`.
    await h.run({**ROUTED, "preferred": "weak", "affinity_key": "feature-2"})
    await h.run({**ROUTED, "affinity_key": "feature-2"})
    await h.run(ROUTED)
    assert [e.data["agent"] for e in h.events[1:]] == ["weak", "weak", "strong"]
    assert "affinity weak is available" in h.events[2].data["reasons"]
    assert h.backend.seen[1].task.agent.backend == "shell"  # the weak agent's own spec
    ttl = await h.redis.ttl(f"{h.prefix}affinity:t1:feature-2")
    assert 0 < ttl <= 24 * 3600


async def test_a_full_agent_is_passed_over_and_no_room_anywhere_is_retryable(
    make: Callable[..., Harness],
) -> None:
    h = make()
    leases = h.runtime.live.leases
    held = [await leases.acquire("strong", 1)]  # another worker's task
    await h.run(ROUTED)
    assert h.events[-1].data["agent"] == "weak"
    held += [await leases.acquire("weak", 2), await leases.acquire("weak", 2)]
    error = await h.refused(ROUTED)
    assert error.type == "NoAgentAvailable" and not error.non_retryable
    assert "strong: at capacity (1/1); weak: at capacity (2/2)" in error.message
    for lease in held:
        assert lease is not None
        await leases.release(lease)
    unknown = await h.refused({**ROUTED, "experiment": "nope"})
    assert unknown.type == "InvalidRouting" and unknown.non_retryable


async def test_heartbeats_renew_the_lease(make: Callable[..., Harness]) -> None:
    h = make()

    async def long_task(ctx: AgentContext) -> AgentOutcome:
        h.clock.now += 30  # past a third of the 60 s lease: this heartbeat renews it
        ctx.heartbeat("working")
        await asyncio.sleep(0.1)
        h.clock.now += 50  # past the first lease's expiry, within the renewed one
        counts.append(await h.runtime.live.leases.in_flight(["strong"]))
        return AgentOutcome(text="done")

    counts: list[dict[str, int]] = []
    beats: list[tuple[Any, ...]] = []
    h.backend.script.append(long_task)
    await h.run(ROUTED, beat=lambda *details: beats.append(details))
    assert beats == [("working",)] and counts == [{"strong": 1}]
    assert await h.runtime.live.leases.in_flight(["strong"]) == {"strong": 0}


async def test_failures_open_the_breaker_which_refuses_then_probes_and_closes(
    make: Callable[..., Harness],
) -> None:
    h = make()
    inline = {"backend": "shell", "command": "cat"}
    down = ApplicationError("the provider is down", type="ProviderUnavailable")
    h.backend.script += [raising(down), raising(down)]
    for _ in range(2):
        assert await h.refused(inline) is down
    [opened] = h.of("breaker.changed")
    assert (opened["key"], opened["state"]) == ("backend:shell", "open")
    assert opened["previous"] == "closed"

    calls = len(h.backend.seen)
    refused = await h.refused(inline)
    assert refused.type == "CircuitOpen" and not refused.non_retryable
    assert refused.next_retry_delay == timedelta(seconds=30)
    assert "circuit breaker backend:shell is open: calls resume in 30.0s" in refused.message
    assert len(h.backend.seen) == calls  # the backend was not called

    h.clock.now += 30  # the reset timeout: one probe goes through and closes it
    assert (await h.run(inline)).text == "ok"
    closed = h.of("breaker.changed")[-1]
    assert (closed["state"], closed["previous"]) == ("closed", "half_open")


async def test_an_agent_that_fails_its_tasks_opens_its_own_breaker_only(
    make: Callable[..., Harness],
) -> None:
    h = make()

    async def failed(ctx: AgentContext) -> AgentOutcome:
        return AgentOutcome(text="", exit_code=1, error="tests failed")

    h.backend.script += [failed, failed]
    for _ in range(2):
        assert (await h.run(ROUTED)).error == "tests failed"
    states = {s.key: s.state for s in await h.runtime.live.breakers.states()}
    assert states == {"agent:strong": "open"}  # backend:llm saw only successes: never written
    await h.run(ROUTED)  # the router now passes strong over
    assert h.events[-1].data["agent"] == "weak"

    # Bad input or configuration, and cancellation, say nothing about health.
    config = ApplicationError("no key", type="ConfigurationError", non_retryable=True)
    h.backend.script += [raising(config)] * 3 + [raising(asyncio.CancelledError())]
    for _ in range(3):
        assert await h.refused({"backend": "shell", "command": "cat"}) is config
    with pytest.raises(asyncio.CancelledError):
        await h.run({"backend": "shell", "command": "cat"})
    shell = await h.runtime.live.breakers.get("backend:shell").state()
    assert (shell.state, shell.failures) == ("closed", 0)


@pytest.fixture(scope="module")
def llm_server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer() as server:
        yield server


def llm(server: OpenAICompatibleServer, prompt: str, max_tokens: int = 5) -> dict[str, Any]:
    return {
        "backend": "llm",
        "model": "local",
        "prompt": prompt,
        "max_tokens": max_tokens,
        "base_url": f"{server.url}/v1",
    }


async def test_provider_rate_limits_are_shared_and_a_429_blocks_every_worker(
    make: Callable[..., Harness], llm_server: OpenAICompatibleServer
) -> None:
    backend = LlmBackend(load_settings(**NO_PROVIDER))
    limits = {"openai": {"requests_per_minute": 1}}
    h = make({"llm": backend}, RATE_LIMITS=limits)
    try:
        asked = len(llm_server.requests)
        assert (await h.run(llm(llm_server, "hello"))).text == "HELLO THE INPUT"
        refused = await h.refused(llm(llm_server, "hello again"))
        assert refused.type == "RateLimited" and refused.next_retry_delay == timedelta(seconds=60)
        assert len(llm_server.requests) == asked + 1  # refused before the provider was asked

        h.clock.now += 60
        llm_server.retry_after = "7"
        throttled = await h.refused(llm(llm_server, "FAIL 429"))  # the provider's own 429
        assert throttled.type == "RateLimited"
        assert throttled.next_retry_delay == timedelta(seconds=7)
        h.clock.now += 3  # every worker now waits out the rest of its Retry-After
        blocked = await h.refused(llm(llm_server, "hello"))
        assert blocked.type == "RateLimited" and blocked.next_retry_delay == timedelta(seconds=4)
        assert len(llm_server.requests) == asked + 2
        assert await h.runtime.live.breakers.states() == []  # a 429 is not ill health
    finally:
        await backend.aclose()


async def test_tokens_are_acquired_as_max_tokens_and_the_rest_charged_after(
    make: Callable[..., Harness], llm_server: OpenAICompatibleServer
) -> None:
    backend = LlmBackend(load_settings(**NO_PROVIDER))
    h = make({"llm": backend}, RATE_LIMITS={"openai": {"tokens_per_minute": 60}})
    try:
        outcome = await h.run(llm(llm_server, "one two three", max_tokens=1))
        assert outcome.usage == Usage(input_tokens=5, output_tokens=1)  # "the input" appended
        # Another worker's view: 6 tokens used (1 acquired + 5 charged) of 60 per minute.
        other = RateLimiter(h.redis, "openai", tokens_per_minute=60, prefix=h.prefix, clock=h.clock)
        assert await other.try_acquire(55) == pytest.approx(1.0)
        assert await other.try_acquire(54) == 0
    finally:
        await backend.aclose()


class Pool:
    """Stands in for the WebSocket pool: completes or fails tasks by token via Temporal."""

    def __init__(self, env: WorkflowEnvironment) -> None:
        self.env = env
        self.tasks: list[tuple[str | None, str | None, AgentTask]] = []
        self.pending: set[asyncio.Task[None]] = set()

    async def dispatch(
        self, agent_id: str | None, capability: str | None, task: AgentTask, task_token: bytes
    ) -> None:
        self.tasks.append((agent_id, capability, task))
        job = asyncio.create_task(self._answer(task, task_token))
        self.pending.add(job)
        job.add_done_callback(self.pending.discard)

    async def _answer(self, task: AgentTask, token: bytes) -> None:
        handle = self.env.client.get_async_activity_handle(task_token=token)
        await asyncio.sleep(0.2)  # after run_agent returned
        await handle.heartbeat("working")
        if "fail" in task.input.text:
            await handle.fail(
                ApplicationError("the laptop gave up", type="AgentFailed", non_retryable=True)
            )
        else:
            text = f"{task.agent.prompt}: {task.input.text.upper()}"  # type: ignore[union-attr]
            await handle.complete(AgentResult(output=Output.of(text)))


async def test_a_remote_step_is_completed_asynchronously_by_the_pool(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(AGENTS_QUEUE=None)
    engine = db.create_engine(settings)
    await db.migrate(engine, settings.DATABASE_SCHEMA)
    bus, pool = EventBus.from_settings(settings), Pool(temporal_env)
    await bus.start()
    redis = redis_client.connect(settings)
    [worker] = build_workers(
        temporal_env.client,
        settings,
        bus,
        engine,
        redis,
        backends={"remote": RemoteBackend(pool)},
    )
    step = {"backend": "remote", "capability": "code", "prompt": "shout"}
    async with worker:
        results: list[Output | str | None] = []
        for text in ("hello laptop", "please fail"):
            run_id = f"remote-{uuid.uuid4().hex[:8]}"
            spec = parse_spec(
                {"name": "remote", "input": text, "steps": [{"name": "ask", "agent": step}]}
            )
            handle = await temporal_env.client.start_workflow(
                WORKFLOW_OF_PATTERN["pipeline"],
                RunInput(run_id=run_id, tenant="t1", spec=spec, agents_queue=settings.agents_queue),
                id=run_id,
                task_queue=settings.ORCHESTRATION_QUEUE,
                result_type=RunState,
            )
            try:
                results.append((await handle.result()).output)
            except WorkflowFailureError as exc:
                results.append(str(exc.cause))
    await bus.stop()
    await engine.dispose()
    await redis.aclose()
    assert [(a, c, t.input.text) for a, c, t in pool.tasks] == [
        (None, "code", "hello laptop"),
        (None, "code", "please fail"),
    ]
    assert results[0] == Output.of("shout: HELLO LAPTOP")
    assert "the laptop gave up" in str(results[1])
