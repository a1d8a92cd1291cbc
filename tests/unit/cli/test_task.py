"""`acc task`: the specs it builds (the same as the Claude Code examples), its dry run, and
its refusals; nothing is started."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from cli.task import task_spec
from core.specs import ClaudeCodeAgent, ShellAgent, SupervisorSpec, parse_spec
from workflows.scoring import SCORE_REQUEST

pytestmark = pytest.mark.unit
runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "claude-code"
ALLOW = ["Bash(python3:*)", "Bash(pytest:*)"]


@pytest.mark.parametrize(("example", "dual"), [("single-agent", False), ("dual-agent", True)])
def test_the_examples_are_the_specs_acc_task_runs(example: str, dual: bool) -> None:
    written = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
    built = task_spec(written["input"], ".", iterations=5, dual_agent=dual, allow=ALLOW)
    assert {**written, "name": built["name"]} == built
    parse_spec(written)


def test_the_single_agent_loop_is_one_claude_code_session_judging_itself() -> None:
    spec = parse_spec(task_spec("Fix the bug", "/repo", iterations=3, gate=0.8))
    assert isinstance(spec, SupervisorSpec)
    assert spec.max_iterations == 3 and spec.quality_threshold == 0.8
    assert isinstance(spec.manager.agent, ShellAgent)  # hands the brief on, nothing more
    worker, reviewer = spec.workers["default"].agent, spec.reviewer.agent
    assert isinstance(worker, ClaudeCodeAgent) and isinstance(reviewer, ClaudeCodeAgent)
    assert worker.role == reviewer.role == "worker" and worker.resume and reviewer.resume
    assert worker.permission_mode == "acceptEdits" and reviewer.permission_mode == "plan"
    assert reviewer.prompt.endswith(SCORE_REQUEST) and "below 0.8" in reviewer.prompt


def test_the_dual_agent_loop_has_a_manager_that_reads_the_workers_copy() -> None:
    spec = parse_spec(task_spec("Fix the bug", "/repo", dual_agent=True, model="sonnet"))
    assert isinstance(spec, SupervisorSpec)
    manager, reviewer = spec.manager.agent, spec.reviewer.agent
    worker = spec.workers["default"].agent
    assert isinstance(manager, ClaudeCodeAgent) and isinstance(reviewer, ClaudeCodeAgent)
    assert isinstance(worker, ClaudeCodeAgent)
    assert manager.role == reviewer.role == "manager" and worker.role == "worker"
    assert manager.other_worktrees == reviewer.other_worktrees == ["worker"]
    assert manager.permission_mode == reviewer.permission_mode == "plan"
    assert {manager.model, reviewer.model, worker.model} == {"sonnet"}
    assert '"subtasks"' in manager.prompt and reviewer.prompt.endswith(SCORE_REQUEST)
    assert worker.accept_denials and spec.workers["default"].retry.max_attempts == 3


def test_dry_run_prints_a_spec_that_acc_run_takes(tmp_path: Path) -> None:
    options = ["--allow", "Bash(npm test:*)", "--max-cost", "2", "--dry-run"]
    result = runner.invoke(
        app, ["task", "Add a --verbose flag", "--dual-agent", "--repo", str(tmp_path), *options]
    )
    assert result.exit_code == 0, result.output
    spec = yaml.safe_load(result.output)
    assert spec["name"] == "task-add-a-verbose-flag" and spec["budget"] == {"max_cost_usd": 2.0}
    assert spec["workers"]["default"]["agent"]["repo"] == str(tmp_path.resolve())
    assert "Bash(npm test:*)" in spec["workers"]["default"]["agent"]["allowed_tools"]
    assert "&id" not in result.output  # no YAML anchors: it reads as written
    path = tmp_path / "task.yaml"
    path.write_text(result.output)
    checked = runner.invoke(app, ["run", str(path), "--dry-run"])
    assert checked.exit_code == 0, checked.output


def test_bad_options_are_refused_before_anything_starts() -> None:
    result = runner.invoke(app, ["task", "x", "--permission-mode", "yolo", "--dry-run"])
    assert result.exit_code == 1
    assert "permission_mode" in result.output
    assert runner.invoke(app, ["task", "x", "--iterations", "0"]).exit_code == 2


def test_a_task_in_any_words_gets_a_valid_run_name() -> None:
    for words in ("Ünïcödé only!!", "   ", "FIX #42: the parser's edge cases " * 5):
        parse_spec(task_spec(words or "x", "/repo"))
