"""The claude_code backend driving the real Claude Code CLI (the pinned npm package) against
a scripted Anthropic Messages API: the CLI's tools, permissions, sessions and resume are
real, only the model's turns are scripted. Also real: git worktrees, the process group, the
files the backend keeps under the data dir."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from agents import sandbox
from agents.backends.claude_code import RETRY_NOTE, ClaudeCodeBackend
from core.specs import ClaudeCodeAgent
from tests.support.real_claude import (
    Recorder,
    claude_cli,
    context,
    git,
    isolate,
    make_repo,
    marker,
    model_api,
    settings_for,
)
from tests.support.scripted_anthropic_api import ScriptedAnthropicApi, Tokens, Turn, say, use

pytestmark = pytest.mark.integration
__all__ = ["claude_cli", "marker", "model_api"]  # fixtures used by name

Marker = Callable[[], str]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, claude_cli: Path) -> None:
    isolate(monkeypatch, tmp_path / "home")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def backend_for(api: ScriptedAnthropicApi, tmp_path: Path, **settings: object) -> ClaudeCodeBackend:
    return ClaudeCodeBackend(settings_for(api, tmp_path / ".acc", **settings))


def first_prompt(api: ScriptedAnthropicApi, mark: str) -> str:
    first = api.requests_for(mark)[0].body["messages"][0]["content"]
    return "\n".join(block.get("text", "") for block in first)


async def test_a_step_edits_files_with_real_tools_and_reports_what_it_did(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Marker
) -> None:
    mark = model_api.script(
        marker(),
        use("Write", "I'll add the notes.", file_path="NOTES.md", content="# Notes\nfirst\n"),
        use("Edit", file_path="NOTES.md", old_string="first", new_string="second"),
        use("Bash", command="cat NOTES.md", description="show the notes"),
        say("Added NOTES.md.", tokens=Tokens(input=12, output=9, cache_read=4000)),
    )
    agent = ClaudeCodeAgent(
        prompt=f"- Add a NOTES.md {mark}",  # a prompt starting with "-" is still the prompt
        repo=str(repo),
        model="claude-sonnet-4-5",
        permission_mode="acceptEdits",
        allowed_tools=["Bash(cat:*)"],
        max_turns=8,
    )
    recorder = Recorder()
    backend = backend_for(model_api, tmp_path)
    outcome = await backend.run(context(agent, backend._settings, recorder, input_text="Short."))

    assert outcome.error is None and outcome.exit_code == 0, outcome
    assert outcome.text == "Added NOTES.md."
    worktree = tmp_path / ".acc/worktrees/run-1/worker"
    assert (worktree / "NOTES.md").read_text() == "# Notes\nsecond\n"
    assert not (repo / "NOTES.md").exists()  # the work happens in the worktree only
    assert f"worktree {worktree}" in git("-C", str(repo), "worktree", "list", "--porcelain")
    assert first_prompt(model_api, mark).endswith(f"- Add a NOTES.md {mark}\n\nShort.")

    kinds = [(e["part"], e.get("tool")) for e in recorder.messages()]
    assert kinds == [
        ("session", None),
        ("text", None),
        ("tool_use", "Write"),
        ("tool_use", "Edit"),
        ("tool_use", "Bash"),
        ("text", None),
    ]
    assert "permission mode acceptEdits" in recorder.messages("session")[0]["text"]
    saved = json.loads((tmp_path / ".acc/runs/run-1/sessions/worker.json").read_text())
    assert saved == {"session_id": outcome.session_id, "step": "implement"}
    assert recorder.progress["session_id"] == outcome.session_id

    usage = recorder.usage()
    assert list(usage["models"]) == ["claude-sonnet-4-5"]
    assert outcome.usage.output_tokens == 3 * 30 + 9
    assert outcome.usage.input_tokens == 3 * 40 + 12 + 4000
    assert outcome.usage.cost_usd == pytest.approx(usage["cli_cost_usd"], abs=1e-9)
    assert outcome.usage.cost_usd == pytest.approx((132 * 3 + 99 * 15 + 4000 * 0.3) / 1e6)


async def test_without_permission_a_refused_write_fails_the_step_naming_the_fix(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Marker
) -> None:
    mark = model_api.script(
        marker(), use("Write", file_path="app.py", content="print(1)\n"), say("Done!")
    )
    agent = ClaudeCodeAgent(prompt=f"write app.py {mark}", repo=str(repo))
    recorder = Recorder()
    backend = backend_for(model_api, tmp_path)
    with pytest.raises(ApplicationError) as failure:
        await backend.run(context(agent, backend._settings, recorder))

    assert failure.value.type == "PermissionDenied" and failure.value.non_retryable
    assert "refused 1 tool call(s): Write " in failure.value.message
    assert "allowed_tools" in failure.value.message and "acceptEdits" in failure.value.message
    assert not (tmp_path / ".acc/worktrees/run-1/worker/app.py").exists()
    (refusal,) = recorder.messages("tool_error")
    assert "requested permissions to write" in refusal["text"]
    assert "permission mode default" in recorder.messages("session")[0]["text"]


async def test_accepted_denials_let_the_step_succeed_and_are_reported(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Marker
) -> None:
    mark = model_api.script(
        marker(), use("Bash", command="npm publish", description="publish"), say("Skipped it.")
    )
    agent = ClaudeCodeAgent(
        prompt=f"clean up {mark}",
        repo=str(repo),
        permission_mode="acceptEdits",
        accept_denials=True,
    )
    backend = backend_for(model_api, tmp_path)
    outcome = await backend.run(context(agent, backend._settings, Recorder()))
    assert outcome.error is None and outcome.text == "Skipped it."
    assert "acc: accepted: Claude Code was refused 1 tool call(s): Bash npm publish" in (
        outcome.stderr
    )


@pytest.mark.parametrize(
    ("fields", "written"),
    [({"allowed_tools": ["Write"]}, True), ({"permission_mode": "plan"}, False)],
    ids=["allowed-tool", "plan-mode"],
)
async def test_allowed_tools_and_plan_mode_reach_the_cli(
    fields: dict[str, object],
    written: bool,
    model_api: ScriptedAnthropicApi,
    repo: Path,
    tmp_path: Path,
    marker: Marker,
) -> None:
    mark = model_api.script(marker(), use("Write", file_path="x.txt", content="x\n"), say("ok"))
    agent = ClaudeCodeAgent(prompt=f"write x {mark}", repo=str(repo), accept_denials=True, **fields)
    backend = backend_for(model_api, tmp_path)
    outcome = await backend.run(context(agent, backend._settings, Recorder()))
    assert (tmp_path / ".acc/worktrees/run-1/worker/x.txt").exists() is written
    assert ("refused" in outcome.stderr) is not written


async def test_a_disallowed_tool_is_not_even_offered_to_the_model(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Marker
) -> None:
    mark = model_api.script(marker(), use("Write", file_path="x.txt", content="x\n"), say("ok"))
    agent = ClaudeCodeAgent(
        prompt=f"write x {mark}",
        repo=str(repo),
        permission_mode="acceptEdits",
        disallowed_tools=["Write"],
    )
    recorder = Recorder()
    backend = backend_for(model_api, tmp_path)
    outcome = await backend.run(context(agent, backend._settings, recorder))
    assert outcome.error is None
    offered = [tool["name"] for tool in model_api.requests_for(mark)[0].body["tools"]]
    assert "Edit" in offered and "Write" not in offered
    assert not (tmp_path / ".acc/worktrees/run-1/worker/x.txt").exists()
    assert "Write" in recorder.messages("tool_error")[0]["text"]


async def test_bypass_permissions_needs_the_workers_consent(
    model_api: ScriptedAnthropicApi,
    repo: Path,
    tmp_path: Path,
    marker: Marker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mark = model_api.script(marker(), use("Bash", command="touch made.txt"), say("made"))
    agent = ClaudeCodeAgent(
        prompt=f"make a file {mark}", repo=str(repo), permission_mode="bypassPermissions"
    )
    refusing = backend_for(model_api, tmp_path)
    with pytest.raises(ApplicationError) as refused:
        await refusing.run(context(agent, refusing._settings, Recorder()))
    assert refused.value.type == "ConfigurationError" and refused.value.non_retryable
    assert "ACC_CLAUDE_ALLOW_BYPASS_PERMISSIONS" in refused.value.message
    assert model_api.requests_for(mark) == []  # the CLI never ran

    allowing = backend_for(model_api, tmp_path, CLAUDE_ALLOW_BYPASS_PERMISSIONS=True)
    outcome = await allowing.run(context(agent, allowing._settings, Recorder()))
    assert outcome.error is None and outcome.text == "made"
    assert (tmp_path / ".acc/worktrees/run-1/worker/made.txt").exists()


async def test_the_appended_system_prompt_and_the_step_budget_reach_the_cli(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Marker
) -> None:
    mark = model_api.script(marker(), say("fine"))
    agent = ClaudeCodeAgent(
        prompt=f"hello {mark}",
        repo=str(repo),
        append_system_prompt="--Always answer in French.",
        max_budget_usd=2.5,
    )
    backend = backend_for(model_api, tmp_path)
    outcome = await backend.run(context(agent, backend._settings, Recorder()))
    assert outcome.error is None
    system = json.dumps(model_api.requests_for(mark)[0].body["system"])
    assert "--Always answer in French." in system


async def test_resume_continues_the_roles_session_across_steps(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Marker
) -> None:
    manager = model_api.script(marker(), say("Plan: add tests."), say("Score: 0.9"))
    worker = model_api.script(marker(), say("Tests added."))
    backend = backend_for(model_api, tmp_path)
    plan = ClaudeCodeAgent(prompt=f"Plan {manager}", repo=str(repo), role="manager")
    first = await backend.run(context(plan, backend._settings, Recorder(), step="plan"))
    review = plan.model_copy(update={"prompt": "Review the work", "resume": True})
    second = await backend.run(context(review, backend._settings, Recorder(), step="review"))
    # A role with no saved session starts fresh even with resume set.
    work = ClaudeCodeAgent(prompt=f"Do it {worker}", repo=str(repo), resume=True)
    third = await backend.run(context(work, backend._settings, Recorder(), step="work"))

    assert (first.text, second.text, third.text) == (
        "Plan: add tests.",
        "Score: 0.9",
        "Tests added.",
    )
    assert first.session_id and second.session_id == first.session_id
    assert third.session_id not in (None, first.session_id)
    history = model_api.requests_for(manager)[1].body["messages"]
    assert [m["role"] for m in history if m["role"] != "system"] == ["user", "assistant", "user"]
    assert (tmp_path / ".acc/worktrees/run-1/manager").is_dir()


async def test_a_retry_resumes_the_session_its_lost_attempt_recorded(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Marker
) -> None:
    # The first attempt's model never answers; its worker "dies" at the step's deadline.
    mark = model_api.script(
        marker(), Turn(text="never sent", stall=True), say("Picked it up again.")
    )
    agent = ClaudeCodeAgent(prompt=f"long job {mark}", repo=str(repo))
    backend = backend_for(model_api, tmp_path)
    lost = Recorder()
    with pytest.raises(ApplicationError) as timed_out:
        await backend.run(context(agent, backend._settings, lost, timeout=3))
    assert timed_out.value.type == "AgentTimedOut"
    recorded = lost.progress["session_id"]

    # The next attempt gets the heartbeat details (`ctx.resumed`) and resumes that session.
    retry = Recorder()
    outcome = await backend.run(context(agent, backend._settings, retry, resumed=lost.progress))
    assert outcome.error is None and outcome.text == "Picked it up again."
    assert outcome.session_id == recorded
    last_user = model_api.requests_for(mark)[-1].body["messages"][-1]["content"]
    assert RETRY_NOTE.strip() in json.dumps(last_user)


async def test_a_session_the_cli_does_not_know_is_replaced_by_a_fresh_one_once(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Marker
) -> None:
    mark = model_api.script(marker(), say("Started over."))
    saved = tmp_path / ".acc/runs/run-1/sessions/worker.json"
    saved.parent.mkdir(parents=True)
    saved.write_text(json.dumps({"session_id": "0f0e0d0c-0000-4000-8000-000000000000"}))
    agent = ClaudeCodeAgent(prompt=f"continue {mark}", repo=str(repo), resume=True)
    recorder = Recorder()
    backend = backend_for(model_api, tmp_path)
    outcome = await backend.run(context(agent, backend._settings, recorder))

    assert outcome.error is None and outcome.text == "Started over."
    notice = "session 0f0e0d0c-0000-4000-8000-000000000000 was not found; started a fresh"
    assert notice in outcome.stderr
    assert [e["text"][: len(notice)] for e in recorder.messages("notice")] == [notice]
    assert json.loads(saved.read_text())["session_id"] == outcome.session_id
    assert outcome.session_id != "0f0e0d0c-0000-4000-8000-000000000000"


async def test_events_stream_while_the_step_runs(
    model_api: ScriptedAnthropicApi, repo: Path, tmp_path: Path, marker: Marker
) -> None:
    mark = model_api.script(
        marker(),
        use("Bash", command="echo one", text="Looking."),
        Turn(text="Still thinking about it.", delay=0.6),
    )
    agent = ClaudeCodeAgent(prompt=f"slow {mark}", repo=str(repo), allowed_tools=["Bash(echo:*)"])
    arrived: list[tuple[float, str]] = []
    recorder = Recorder()

    async def emit(kind: str, data: dict[str, object]) -> None:
        arrived.append((time.monotonic(), str(data.get("part"))))
        await recorder.emit(kind, data)

    backend = backend_for(model_api, tmp_path)
    ctx = context(agent, backend._settings, recorder)
    ctx.emit = emit
    outcome = await backend.run(ctx)
    finished = time.monotonic()
    assert outcome.error is None
    tool_use = next(at for at, kind in arrived if kind == "tool_use")
    assert finished - tool_use > 1.0  # seen live, well before the slow last turn ended


@pytest.mark.skipif(not sandbox.available(), reason="bubblewrap is not installed")
async def test_the_cli_and_its_tools_see_only_their_worktree_config_and_the_system(
    model_api: ScriptedAnthropicApi,
    repo: Path,
    tmp_path: Path,
    marker: Marker,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.setenv("WORKER_SECRET_TOKEN", "worker-secret-4f1a")
    # A process of the worker's with the secret in its environment, for /proc to show.
    holder = subprocess.Popen(["sleep", "60"], env={"WORKER_SECRET_TOKEN": "worker-secret-4f1a"})
    request.addfinalizer(holder.kill)
    other_run = tmp_path / ".acc/runs/other-run"
    other_run.mkdir(parents=True)
    (other_run / "notes.txt").write_text("another run's notes")
    probes = "; ".join(
        [
            "echo shadow=$(cat /etc/shadow | wc -c)",
            "echo environs=$(cat /proc/[0-9]*/environ 2>/dev/null | grep -ac worker-secret)",
            f"cat {other_run}/notes.txt 2>&1 | tail -1",
            f"echo out > {repo}/escaped.txt",
            "echo in > made.txt",
            "grep CapEff /proc/self/status",
        ]
    )
    mark = model_api.script(marker(), use("Bash", command=probes), say("probed"))
    agent = ClaudeCodeAgent(prompt=f"probe {mark}", repo=str(repo), allowed_tools=["Bash"])
    backend = backend_for(model_api, tmp_path)
    outcome = await backend.run(context(agent, backend._settings, Recorder()))
    assert outcome.error is None and outcome.text == "probed", outcome
    seen = tool_output(model_api, mark)
    assert "shadow=0" in seen and "environs=0" in seen, seen
    assert "No such file or directory" in seen and "another run's notes" not in seen
    assert "CapEff:\t0000000000000000" in seen
    assert not (repo / "escaped.txt").exists()
    assert (tmp_path / ".acc/worktrees/run-1/worker/made.txt").read_text() == "in\n"


def tool_output(api: ScriptedAnthropicApi, mark: str) -> str:
    """What the CLI sent back to the model as its tool's result."""
    last = api.requests_for(mark)[-1].body["messages"][-1]["content"]
    results = [block for block in last if block.get("type") == "tool_result"]
    content = results[0]["content"]
    return content if isinstance(content, str) else json.dumps(content)
