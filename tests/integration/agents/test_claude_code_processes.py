"""The claude_code backend's processes: the time limit and cancelling kill everything the
real CLI started; a CLI that crashes or leaves a process holding its output; checks made
before any CLI runs (missing CLI, not a git repository)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from agents.backends.claude_code import ClaudeCodeBackend
from core.settings import load_settings
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
from tests.support.scripted_anthropic_api import ScriptedAnthropicApi, say, use

pytestmark = pytest.mark.integration
__all__ = ["claude_cli", "marker", "model_api"]  # fixtures used by name
MISBEHAVING = Path(__file__).resolve().parents[2] / "support" / "misbehaving_claude_cli.py"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, claude_cli: Path) -> None:
    isolate(monkeypatch, tmp_path / "home")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def alive(pid: int) -> bool:
    """Running and not a zombie (a container's init may never reap orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def pids_running(needle: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if needle in cmdline and alive(int(entry.name)):
                found.append(int(entry.name))
    return found


async def eventually(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    """The condition's first truthy value within `timeout` seconds (else its last value)."""
    for _ in range(int(timeout / 0.05)):
        if value := condition():
            return value
        await asyncio.sleep(0.05)
    return condition()


def sleeper(api: ScriptedAnthropicApi, mark: str, seconds: str, repo: Path) -> ClaudeCodeAgent:
    """A step whose Bash tool starts a long `sleep` (its argument marks it in /proc)."""
    api.script(mark, use("Bash", command=f"sleep {seconds}", description="wait"), say("woke"))
    return ClaudeCodeAgent(prompt=mark, repo=str(repo), allowed_tools=["Bash(sleep:*)"])


async def test_the_time_limit_kills_the_cli_and_the_tools_it_started(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Callable[[], str]
) -> None:
    agent = sleeper(model_api, marker(), "613.25", repo)
    backend = ClaudeCodeBackend(settings_for(model_api, tmp_path / ".acc"))
    recorder = Recorder()
    running = asyncio.ensure_future(
        backend.run(context(agent, backend._settings, recorder, timeout=4))
    )
    sleeping = await eventually(lambda: pids_running("sleep 613.25"))
    assert sleeping, "the CLI's Bash tool never started the command"
    with pytest.raises(ApplicationError) as failure:
        await running
    assert failure.value.type == "AgentTimedOut" and not failure.value.non_retryable
    assert failure.value.message == "claude timed out after 4s"
    assert await eventually(lambda: not any(alive(pid) for pid in sleeping), timeout=10)
    assert recorder.heartbeats >= 3  # kept beating while the tool ran silently
    assert [e["tool"] for e in recorder.messages("tool_use")] == ["Bash"]


async def test_cancelling_the_step_kills_the_cli_and_the_tools_it_started(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Callable[[], str]
) -> None:
    agent = sleeper(model_api, marker(), "614.75", repo)
    backend = ClaudeCodeBackend(settings_for(model_api, tmp_path / ".acc"))
    running = asyncio.ensure_future(backend.run(context(agent, backend._settings, Recorder())))
    sleeping = await eventually(lambda: pids_running("sleep 614.75"))
    assert sleeping, "the CLI's Bash tool never started the command"
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert await eventually(lambda: not any(alive(pid) for pid in sleeping), timeout=10)


async def test_a_cli_that_dies_without_a_result_fails_the_step_retryably(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISBEHAVE", "crash")
    settings = load_settings(
        DATA_DIR=tmp_path / ".acc", CLAUDE_CLI=str(MISBEHAVING), CLAUDE_ENV="MISBEHAVE"
    )
    agent = ClaudeCodeAgent(prompt="anything", repo=str(repo))
    outcome = await ClaudeCodeBackend(settings).run(context(agent, settings, Recorder()))
    assert outcome.exit_code == 3
    assert outcome.error == (
        "claude exited with code 3 without a result: fatal: out of memory (fake)"
    )


async def test_a_process_left_holding_the_output_neither_hangs_the_step_nor_survives(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "misbehave.log"
    monkeypatch.setenv("MISBEHAVE", "background")
    monkeypatch.setenv("MISBEHAVE_LOG", str(log))
    # Unsandboxed: the pids it logs are the worker's to check (a sandbox has its own; the
    # sandboxed CLI's tools are shown dying with it by the tests above).
    settings = load_settings(
        DATA_DIR=tmp_path / ".acc",
        CLAUDE_CLI=str(MISBEHAVING),
        CLAUDE_ENV="MISBEHAVE,MISBEHAVE_LOG",
        SANDBOX="off",
    )
    agent = ClaudeCodeAgent(prompt="start the preview", repo=str(repo))
    started = time.monotonic()
    outcome = await ClaudeCodeBackend(settings).run(context(agent, settings, Recorder()))
    assert time.monotonic() - started < 15
    assert outcome.error is None and outcome.text == "The preview server is running."
    pids = json.loads(log.read_text())
    assert await eventually(lambda: not alive(pids["pid"]) and not alive(pids["child_pid"]))


@pytest.mark.parametrize("cli", ["claude-is-not-installed-here", "/no/such/dir/claude"])
async def test_a_missing_cli_is_a_non_retryable_configuration_error(
    cli: str, repo: Path, tmp_path: Path
) -> None:
    settings = load_settings(DATA_DIR=tmp_path / ".acc", CLAUDE_CLI=cli)
    agent = ClaudeCodeAgent(prompt="hello", repo=str(repo))
    with pytest.raises(ApplicationError) as failure:
        await ClaudeCodeBackend(settings).run(context(agent, settings, Recorder()))
    assert failure.value.type == "ClaudeCliMissing" and failure.value.non_retryable
    assert "ACC_CLAUDE_CLI" in str(failure.value) and "npm install" in str(failure.value)


@pytest.mark.parametrize("make", [lambda p: p.mkdir(), lambda p: None], ids=["plain", "missing"])
async def test_a_directory_that_is_not_a_git_repository_is_refused(
    make: Callable[[Path], None],
    tmp_path: Path,
    model_api: ScriptedAnthropicApi,
    marker: Callable[[], str],
) -> None:
    plain = tmp_path / "plain"
    make(plain)
    mark = model_api.script(marker(), say("hello"))
    settings = settings_for(model_api, tmp_path / ".acc")
    agent = ClaudeCodeAgent(prompt=mark, repo=str(plain))
    with pytest.raises(ApplicationError) as failure:
        await ClaudeCodeBackend(settings).run(context(agent, settings, Recorder()))
    assert failure.value.type == "NotAGitRepository" and failure.value.non_retryable
    assert str(plain) in str(failure.value)
    assert model_api.requests == []  # the CLI never ran
