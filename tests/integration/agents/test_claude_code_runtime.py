"""A 429 the real Claude Code CLI got from the (scripted) Anthropic API feeds the provider's
rate limiter that every worker shares through a real Redis: the next claude_code or
anthropic llm step waits out the Retry-After without calling the API, and no breaker counts
it as ill health."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from temporalio.exceptions import ApplicationError

from agents.backends.claude_code import ClaudeCodeBackend
from agents.runtime import AgentRuntime
from core.events import Event
from core.specs import ClaudeCodeAgent
from tests.support.real_claude import (
    Recorder,
    claude_cli,
    context,
    isolate,
    make_repo,
    marker,
    model_api,
    settings_for,
)
from tests.support.scripted_anthropic_api import Failure, ScriptedAnthropicApi, Turn, say

pytestmark = pytest.mark.integration
__all__ = ["claude_cli", "marker", "model_api"]  # fixtures used by name
NOW = 1_800_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_a_claude_code_429_holds_back_every_worker_for_its_retry_after(
    model_api: ScriptedAnthropicApi,
    redis: Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    marker: Callable[[], str],
    claude_cli: Path,
) -> None:
    isolate(monkeypatch, tmp_path / "home")
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    settings = settings_for(model_api, tmp_path / ".acc", REDIS_PREFIX=prefix)
    clock = FakeClock()
    runtime = AgentRuntime(
        settings, redis, {"claude_code": ClaudeCodeBackend(settings)}, clock=clock
    )
    events: list[Event] = []

    async def publish(event: Event) -> None:
        events.append(event)

    repo = make_repo(tmp_path / "repo")
    limited = model_api.script(
        marker(), Turn(failure=Failure(429, "slow down", retry_after=3, times=None))
    )
    fine = model_api.script(marker(), say("all good"))

    def step(prompt: str) -> ClaudeCodeAgent:
        return ClaudeCodeAgent(prompt=prompt, repo=str(repo))

    with pytest.raises(ApplicationError) as throttled:
        await runtime.run(context(step(limited), settings, Recorder()), publish)
    assert throttled.value.type == "RateLimited"
    assert throttled.value.next_retry_delay == timedelta(seconds=3)

    # Another step, on any worker, now waits the Retry-After out (longer than the runtime
    # waits inside an activity, so it is refused with the time left).
    with pytest.raises(ApplicationError) as held:
        await runtime.run(context(step(fine), settings, Recorder()), publish)
    assert held.value.type == "RateLimited"
    assert held.value.next_retry_delay == timedelta(seconds=3)
    assert "'anthropic'" in held.value.message
    assert model_api.requests_for(fine) == []  # refused before the API was asked

    clock.now += 3
    outcome = await runtime.run(context(step(fine), settings, Recorder()), publish)
    assert outcome.text == "all good"
    assert await runtime.live.breakers.states() == []  # a 429 is not ill health
    assert [e.type for e in events if e.type == "breaker.changed"] == []
