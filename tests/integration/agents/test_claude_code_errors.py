"""Every kind of error the claude_code backend tells apart, produced by the real Claude Code
CLI against the scripted Anthropic API (or against no API at all), and what each becomes:
its type, whether Temporal retries it, after how long, and a message naming the fix."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from agents.backends.claude_code import ClaudeCodeBackend
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
from tests.support.scripted_anthropic_api import (
    Failure,
    ScriptedAnthropicApi,
    Tokens,
    Turn,
    say,
    use,
)
from tests.support.servers import free_port

pytestmark = pytest.mark.integration
__all__ = ["claude_cli", "marker", "model_api"]  # fixtures used by name

Marker = Callable[[], str]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, claude_cli: Path) -> None:
    isolate(monkeypatch, tmp_path / "home")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


async def failure_of(
    api: ScriptedAnthropicApi | str,
    agent: ClaudeCodeAgent,
    tmp_path: Path,
    recorder: Recorder | None = None,
    *,
    timeout: float = 60,
    **settings: object,
) -> ApplicationError:
    backend = ClaudeCodeBackend(settings_for(api, tmp_path / ".acc", **settings))
    ctx = context(agent, backend._settings, recorder or Recorder(), timeout=timeout)
    with pytest.raises(ApplicationError) as failure:
        await backend.run(ctx)
    return failure.value


async def test_rejected_credentials_are_not_retried(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Marker
) -> None:
    mark = model_api.script(marker(), Turn(failure=Failure(401, "invalid x-api-key", times=None)))
    error = await failure_of(model_api, ClaudeCodeAgent(prompt=mark, repo=str(repo)), tmp_path)
    assert error.type == "AuthenticationFailed" and error.non_retryable
    assert "Invalid API key" in error.message and "ANTHROPIC_API_KEY" in error.message


async def test_no_credentials_at_all_is_not_logged_in(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Marker
) -> None:
    agent = ClaudeCodeAgent(prompt=marker(), repo=str(repo))
    error = await failure_of(model_api, agent, tmp_path, ANTHROPIC_API_KEY=None)
    assert error.type == "ClaudeNotLoggedIn" and error.non_retryable
    assert "Not logged in" in error.message and "/login" in error.message
    assert model_api.requests == []  # it never got as far as the API
    assert not (tmp_path / ".acc/runs/run-1/sessions/worker.json").exists()


async def test_a_rate_limit_is_retried_after_the_apis_retry_after(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Marker
) -> None:
    mark = model_api.script(
        marker(),
        Turn(failure=Failure(429, "Number of requests exceeded", retry_after=2, times=None)),
    )
    recorder = Recorder()
    agent = ClaudeCodeAgent(prompt=mark, repo=str(repo))
    error = await failure_of(model_api, agent, tmp_path, recorder)
    assert error.type == "RateLimited" and not error.non_retryable
    assert error.next_retry_delay == timedelta(seconds=2)
    assert "rate-limited Claude Code after 1 retry" in error.message
    # The CLI's own retry was visible while it waited, and kept in the heartbeat details.
    (retry,) = recorder.messages("retry")
    assert retry["text"] == "API error 429 (rate_limit): retry 1 of 1 in 2.0s"
    assert recorder.progress["api_retry"] == retry["text"]
    assert len(model_api.requests_for(mark)) == 2


async def test_an_overloaded_api_is_retried(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Marker
) -> None:
    mark = model_api.script(marker(), Turn(failure=Failure(529, "Overloaded", times=None)))
    error = await failure_of(model_api, ClaudeCodeAgent(prompt=mark, repo=str(repo)), tmp_path)
    assert error.type == "ProviderOverloaded" and not error.non_retryable
    assert "529 Overloaded" in error.message


async def test_a_model_the_api_does_not_have_is_a_bad_request(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Marker
) -> None:
    mark = model_api.script(
        marker(), Turn(failure=Failure(404, "model: claude-nope not found", times=None))
    )
    agent = ClaudeCodeAgent(prompt=mark, repo=str(repo), model="claude-nope")
    error = await failure_of(model_api, agent, tmp_path)
    assert error.type == "BadRequest" and error.non_retryable
    assert "claude-nope" in error.message


async def test_max_turns_stops_the_step_naming_the_limit(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Marker
) -> None:
    mark = model_api.script(
        marker(), use("Bash", command="echo 1"), use("Bash", command="echo 2"), say("done")
    )
    agent = ClaudeCodeAgent(prompt=mark, repo=str(repo), max_turns=1, allowed_tools=["Bash"])
    error = await failure_of(model_api, agent, tmp_path)
    assert error.type == "MaxTurnsReached" and error.non_retryable
    assert "all 1 turns allowed (max_turns)" in error.message
    assert error.details[0]["usage"]["output_tokens"] == 30  # the turn it did still counts


async def test_the_step_budget_stops_the_cli(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Marker
) -> None:
    expensive = Tokens(input=100, output=500, cache_write=20_000)
    mark = model_api.script(
        marker(), use("Bash", command="echo 1", tokens=expensive), use("Bash", command="echo 2")
    )
    agent = ClaudeCodeAgent(
        prompt=mark, repo=str(repo), max_budget_usd=0.05, allowed_tools=["Bash"]
    )
    error = await failure_of(model_api, agent, tmp_path)
    assert error.type == "StepBudgetExceeded" and error.non_retryable
    assert "$0.1380 spent of max_budget_usd $0.05" in error.message
    assert error.details[0]["usage"]["cost_usd"] == pytest.approx(0.138)


async def test_an_unreachable_api_is_retried_by_the_cli_then_fails_retryably(
    repo: Path, tmp_path: Path, marker: Marker
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    recorder = Recorder()
    agent = ClaudeCodeAgent(prompt=marker(), repo=str(repo))
    error = await failure_of(nowhere, agent, tmp_path, recorder, CLAUDE_MAX_RETRIES=2)
    assert error.type == "ProviderUnavailable" and not error.non_retryable
    assert f"no answer from the Anthropic API at {nowhere} after 2 retries" in error.message
    assert "Unable to connect" in error.message and "ACC_ANTHROPIC_BASE_URL" in error.message
    texts = [e["text"] for e in recorder.messages("retry")]
    assert [t.split(" in ")[0] for t in texts] == [
        "API unreachable (unknown): retry 1 of 2",
        "API unreachable (unknown): retry 2 of 2",
    ]


async def test_an_unreachable_api_shows_progress_until_the_steps_deadline(
    repo: Path, tmp_path: Path, marker: Marker
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    recorder = Recorder()
    agent = ClaudeCodeAgent(prompt=marker(), repo=str(repo))
    started = time.monotonic()
    # The CLI's default: 10 retries over about three minutes; the step allows 4 seconds.
    error = await failure_of(nowhere, agent, tmp_path, recorder, timeout=4, CLAUDE_MAX_RETRIES=None)
    assert time.monotonic() - started < 15
    assert error.type == "AgentTimedOut" and not error.non_retryable
    assert f"retrying the Anthropic API at {nowhere}" in error.message
    assert "check ANTHROPIC_BASE_URL" in error.message
    assert len(recorder.messages("retry")) >= 2
    assert "of 10" in recorder.progress["api_retry"]
