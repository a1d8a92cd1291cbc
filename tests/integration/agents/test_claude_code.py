"""The claude_code backend against real processes, real git worktrees and a stand-in CLI.

`tests/support/claude_stand_in.py` is a test double of the Claude Code CLI: it checks the
arguments it gets and replays recorded stream-json transcripts. Everything else is real: the
subprocess and its process group, git, the files the backend writes under the data dir.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from agents.backends.claude_code import ClaudeCodeBackend
from agents.base import AgentContext
from core.contracts import AgentTask
from core.settings import Settings, load_settings
from core.specs import ClaudeCodeAgent

pytestmark = pytest.mark.integration
STAND_IN = Path(__file__).resolve().parents[2] / "support" / "claude_stand_in.py"


@dataclass
class Recorder:
    heartbeats: int = 0
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def heartbeat(self, *details: object) -> None:
        self.heartbeats += 1

    async def emit(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git("init", "-q", str(path))
    (path / "README.md").write_text("# demo\n")
    git("-C", str(path), "add", "README.md")
    git(
        "-C",
        str(path),
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-q",
        "-m",
        "first",
    )
    return path


@pytest.fixture
def stand_in_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "stand-in.log"
    monkeypatch.setenv("CLAUDE_STAND_IN_LOG", str(log))
    monkeypatch.delenv("CLAUDE_STAND_IN_TRANSCRIPT", raising=False)
    return log


@pytest.fixture
def settings(tmp_path: Path, stand_in_log: Path) -> Settings:
    return load_settings(DATA_DIR=tmp_path / ".acc", CLAUDE_CLI=str(STAND_IN))


def records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def context(
    agent: ClaudeCodeAgent,
    settings: Settings,
    recorder: Recorder,
    *,
    run_id: str = "run-1",
    step: str = "implement",
    input_text: str = "",
    timeout: float = 60,
) -> AgentContext:
    task = AgentTask(
        run_id=run_id,
        tenant="default",
        step_index=0,
        step_name=step,
        agent=agent,
        timeout_seconds=timeout,
    )
    return AgentContext(
        task=task,
        input_text=input_text,
        workdir=settings.data_dir / "runs" / run_id,
        heartbeat=recorder.heartbeat,
        emit=recorder.emit,
    )


def alive(pid: int) -> bool:
    """Running and not a zombie (a container's init may never reap orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


async def wait_dead(*pids: int) -> None:
    gone = await eventually(lambda: not any(alive(pid) for pid in pids))
    assert gone, f"processes of the group survived: {[pid for pid in pids if alive(pid)]}"


async def test_success_streams_events_and_reports_output_usage_and_session(
    repo: Path, settings: Settings, stand_in_log: Path
) -> None:
    agent = ClaudeCodeAgent(
        # A prompt starting with "-" must still reach the CLI as the prompt, not as a flag.
        prompt="- Add a NOTES.md describing the repository",
        repo=str(repo),
        model="sonnet",
        allowed_tools=["Read", "Write", "Bash(git diff:*)"],
        max_turns=5,
    )
    recorder = Recorder()
    outcome = await ClaudeCodeBackend(settings).run(
        context(agent, settings, recorder, input_text="Keep it short.")
    )

    (run,) = records(stand_in_log)
    assert outcome.error is None and outcome.exit_code == 0
    assert outcome.text == "Added NOTES.md with a short description of the repository."
    assert outcome.session_id == run["session_id"]
    assert outcome.usage.input_tokens == 16 + 5744 + 49386  # fresh + cache writes + cache reads
    assert outcome.usage.output_tokens == 222
    assert outcome.usage.cost_usd == pytest.approx(0.0418362)
    assert run["argv"] == [
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--model",
        "sonnet",
        "--allowedTools",
        "Read,Write,Bash(git diff:*)",
        "--max-turns",
        "5",
        "--",
        "- Add a NOTES.md describing the repository\n\nKeep it short.",
    ]

    assert [kind for kind, _ in recorder.events] == ["agent.message"] * 4
    assert [(e["kind"], e.get("tool"), e["text"][:20]) for _, e in recorder.events] == [
        ("text", None, "I'll look at the rep"),
        ("tool_use", "Bash", '{"command": "ls", "d'),
        ("tool_use", "Write", '{"file_path": "' + str(settings.data_dir)[:5]),
        ("text", None, "Added NOTES.md with "),
    ]
    assert recorder.heartbeats >= 9  # at least one per streamed line

    worktree = settings.data_dir / "worktrees" / "run-1" / "worker"
    assert run["cwd"] == str(worktree)
    assert git("-C", str(worktree), "rev-parse", "--is-inside-work-tree") == "true"
    assert f"worktree {worktree}" in git("-C", str(repo), "worktree", "list", "--porcelain")
    assert (worktree / "NOTES.md").exists() and not (repo / "NOTES.md").exists()
    saved = json.loads((settings.data_dir / "runs/run-1/sessions/worker.json").read_text())
    assert saved == {"session_id": outcome.session_id, "step": "implement"}


async def test_resume_passes_the_saved_session_of_the_role(
    repo: Path, settings: Settings, stand_in_log: Path
) -> None:
    backend = ClaudeCodeBackend(settings)
    plan = ClaudeCodeAgent(prompt="Plan the work", repo=str(repo), role="manager")
    first = await backend.run(context(plan, settings, Recorder(), step="plan"))
    review = plan.model_copy(update={"prompt": "Review the work", "resume": True})
    second = await backend.run(context(review, settings, Recorder(), step="review"))
    # A role with no saved session starts fresh even with resume set.
    worker = ClaudeCodeAgent(prompt="Do it", repo=str(repo), role="worker", resume=True)
    third = await backend.run(context(worker, settings, Recorder(), step="work"))

    one, two, three = records(stand_in_log)
    assert first.session_id and second.session_id == first.session_id
    assert f"--resume={first.session_id}" in two["argv"]
    assert two["cwd"] == one["cwd"]  # same worktree, where the CLI keeps the session
    assert not any(arg.startswith("--resume") for arg in one["argv"] + three["argv"])
    assert third.session_id not in (None, first.session_id)
    assert three["cwd"] != one["cwd"]


async def test_reused_worktree_keeps_earlier_work(repo: Path, settings: Settings) -> None:
    backend = ClaudeCodeBackend(settings)
    agent = ClaudeCodeAgent(prompt="Add notes", repo=str(repo))
    await backend.run(context(agent, settings, Recorder()))
    worktree = settings.data_dir / "worktrees" / "run-1" / "worker"
    (worktree / "scratch.txt").write_text("from the first attempt")
    await backend.run(context(agent, settings, Recorder()))
    assert (worktree / "scratch.txt").read_text() == "from the first attempt"


@pytest.mark.parametrize("cli", ["claude-is-not-installed-here", "/no/such/dir/claude"])
async def test_missing_cli_is_a_non_retryable_configuration_error(
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
    make: Any, tmp_path: Path, settings: Settings, stand_in_log: Path
) -> None:
    plain = tmp_path / "plain"
    make(plain)
    agent = ClaudeCodeAgent(prompt="hello", repo=str(plain))
    with pytest.raises(ApplicationError) as failure:
        await ClaudeCodeBackend(settings).run(context(agent, settings, Recorder()))
    assert failure.value.type == "NotAGitRepository" and failure.value.non_retryable
    assert str(plain) in str(failure.value)
    assert records(stand_in_log) == []  # the CLI never ran


async def test_not_logged_in_is_a_non_retryable_error(
    repo: Path, settings: Settings, stand_in_log: Path
) -> None:
    agent = ClaudeCodeAgent(prompt="hello [transcript:not_logged_in]", repo=str(repo))
    with pytest.raises(ApplicationError) as failure:
        await ClaudeCodeBackend(settings).run(context(agent, settings, Recorder()))
    assert failure.value.type == "ClaudeNotLoggedIn" and failure.value.non_retryable
    assert "Not logged in" in str(failure.value) and "/login" in str(failure.value)
    assert not (settings.data_dir / "runs/run-1/sessions/worker.json").exists()


async def test_an_error_result_fails_the_step_with_the_reason(
    repo: Path, settings: Settings
) -> None:
    agent = ClaudeCodeAgent(prompt="find TODOs [transcript:max_turns]", repo=str(repo), max_turns=1)
    recorder = Recorder()
    outcome = await ClaudeCodeBackend(settings).run(context(agent, settings, recorder))
    assert outcome.error == "claude failed (error_max_turns): Reached maximum number of turns (1)"
    assert outcome.exit_code == 1
    assert outcome.usage.cost_usd == pytest.approx(0.0231757)  # spent even though it failed
    assert [e["tool"] for _, e in recorder.events] == ["Grep"]


async def test_a_cli_that_dies_without_a_result_fails_the_step(
    repo: Path, settings: Settings, stand_in_log: Path
) -> None:
    # The stand-in rejects a resume of a session it never saw, like the real CLI.
    session = settings.data_dir / "runs/run-1/sessions/worker.json"
    session.parent.mkdir(parents=True)
    session.write_text(json.dumps({"session_id": "0f0e0d0c-unknown"}))
    agent = ClaudeCodeAgent(prompt="continue", repo=str(repo), resume=True)
    outcome = await ClaudeCodeBackend(settings).run(context(agent, settings, Recorder()))
    assert outcome.exit_code == 1
    assert outcome.error == (
        "claude exited with code 1 without a result: "
        "No conversation found with session ID: 0f0e0d0c-unknown"
    )


async def test_timeout_kills_the_whole_process_group(
    repo: Path, settings: Settings, stand_in_log: Path
) -> None:
    agent = ClaudeCodeAgent(prompt="run the tests [transcript:hang]", repo=str(repo))
    recorder = Recorder()
    started = time.monotonic()
    with pytest.raises(ApplicationError) as failure:
        await ClaudeCodeBackend(settings).run(context(agent, settings, recorder, timeout=1.5))
    assert failure.value.type == "AgentTimedOut" and not failure.value.non_retryable
    assert time.monotonic() - started < 10
    run, child = records(stand_in_log)
    await wait_dead(run["pid"], child["child_pid"])
    assert recorder.heartbeats >= 2  # kept beating while the CLI was silent
    assert [e["tool"] for _, e in recorder.events] == ["Bash"]


async def test_a_background_process_left_behind_neither_hangs_the_step_nor_survives(
    repo: Path, settings: Settings, stand_in_log: Path
) -> None:
    # The child holds the CLI's stdout open after the CLI exits, so EOF never comes by itself.
    agent = ClaudeCodeAgent(prompt="start the preview [transcript:background]", repo=str(repo))
    started = time.monotonic()
    outcome = await ClaudeCodeBackend(settings).run(context(agent, settings, Recorder()))
    assert time.monotonic() - started < 15
    assert outcome.error is None and outcome.text == "The preview server is running on port 8000."
    run, child = records(stand_in_log)
    await wait_dead(run["pid"], child["child_pid"])


async def test_cancelling_the_activity_kills_the_whole_process_group(
    repo: Path, settings: Settings, stand_in_log: Path
) -> None:
    agent = ClaudeCodeAgent(prompt="run the tests [transcript:hang]", repo=str(repo))
    running = asyncio.create_task(
        ClaudeCodeBackend(settings).run(context(agent, settings, Recorder()))
    )
    assert await eventually(lambda: len(records(stand_in_log)) == 2)  # the child is started
    run, child = records(stand_in_log)
    assert alive(run["pid"]) and alive(child["child_pid"])
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    await wait_dead(run["pid"], child["child_pid"])
