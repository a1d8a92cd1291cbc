"""The flagship, end to end: the whole stack as a user starts it (`acc up`), the real Claude
Code CLI (the pinned npm package) in the workers, and a scripted Anthropic API instead of the
model. The dual-agent example runs as written (only `repo` set): the worker writes code, the
manager reads it and finds a flaw, the worker fixes it, the gate passes. `acc task` starts the
single-agent loop from one command line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.real_claude import FOREIGN, installed_cli, make_repo
from tests.support.scripted_anthropic_api import ScriptedAnthropicApi, Tokens, say, use
from tests.support.stack import acc_up, api_headers, stack_env

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "claude-code"
WAIT = 60
DIVIDE = "def divide(a, b):\n    return a / b\n"
GUARD = "    if b == 0:\n        return None\n    return a / b\n"
GUARDED = "def divide(a, b):\n" + GUARD
CACHED = Tokens(input=1_200, output=400, cache_write=9_000, cache_read=40_000)


@dataclass
class Stack:
    env: dict[str, str]
    http: httpx.Client
    data_dir: Path
    api: ScriptedAnthropicApi

    def finished(self, run_id: str) -> dict[str, Any]:
        view: dict[str, Any] = self.http.get(f"/v1/runs/{run_id}", params={"wait": WAIT}).json()
        assert view["status"] not in ("running", "waiting"), view
        return view


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    cli = installed_cli()
    tmp = tmp_path_factory.mktemp("claude-examples")
    with ScriptedAnthropicApi() as api:
        env = stack_env(
            tmp,
            ACC_CLAUDE_CLI=str(cli),
            ACC_ANTHROPIC_BASE_URL=api.url,
            ACC_ANTHROPIC_API_KEY="sk-ant-e2e",
            ACC_CLAUDE_MAX_RETRIES="1",
            HOME=str(tmp / "home"),
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        )
        for name in FOREIGN:
            env.pop(name, None)
        (tmp / "home").mkdir()
        url = f"http://127.0.0.1:{env['ACC_API_PORT']}"
        with (
            acc_up(tmp, env),
            httpx.Client(
                base_url=url, timeout=WAIT + 30, headers=api_headers(tmp / ".acc")
            ) as http,
        ):
            yield Stack(env, http, tmp / ".acc", api)


def test_the_dual_agent_loop_writes_finds_a_flaw_fixes_it_and_passes_the_gate(
    stack: Stack, tmp_path: Path
) -> None:
    plan = '{"subtasks": [{"task": "Create calc.py with divide(a, b)"}]}'
    fix = '{"subtasks": [{"task": "Make divide(a, b) return None when b is 0"}]}'
    stack.api.script(
        "You are the manager in a manager/worker pair",
        say(plan, tokens=CACHED),
        use("Read", file_path="../worker/calc.py"),
        say('{"score": 0.4, "feedback": "divide(1, 0) raises ZeroDivisionError"}'),
        say(f"```json\n{fix}\n```"),
        use("Read", file_path="../worker/calc.py"),
        say('Looks right now. {"score": 0.9, "feedback": "division by zero is handled"}'),
    )
    stack.api.script(
        "You are the worker in a manager/worker pair",
        use("Write", "Creating calc.py.", CACHED, file_path="calc.py", content=DIVIDE),
        say("Created calc.py with divide(a, b)."),
        use("Edit", file_path="calc.py", old_string="    return a / b\n", new_string=GUARD),
        use("Bash", command="python3 -c 'import calc; print(calc.divide(1, 0))'"),
        say("divide(1, 0) now returns None; checked with python3."),
    )
    repo = make_repo(tmp_path / "project")
    spec = yaml.safe_load((EXAMPLES / "dual-agent.yaml").read_text())
    for step in (spec["manager"], spec["workers"]["default"], spec["reviewer"]):
        step["agent"]["repo"] = str(repo)
    accepted = stack.http.post("/v1/runs", json=spec)
    assert accepted.status_code == 202, accepted.text
    run = stack.finished(accepted.json()["id"])

    assert run["status"] == "completed", json.dumps(run, indent=1)
    assert run["quality"] == 0.9
    assert [(s["group"], s["name"], s["status"]) for s in run["steps"]] == [
        (f"iteration-{n}", name, "completed") for n in (1, 2) for name in ("plan", "work", "review")
    ]
    assert "iteration-1: quality 0.40 (gate 0.70)" in run["notes"]
    assert "iteration-2: quality 0.90 (gate 0.70)" in run["notes"]
    worktrees = stack.data_dir / "worktrees" / run["id"]
    assert (worktrees / "worker" / "calc.py").read_text() == GUARDED
    assert not (worktrees / "manager" / "calc.py").exists()  # the manager changed nothing
    assert not (repo / "calc.py").exists()  # the user's checkout is untouched
    # The manager's second plan had the feedback it gave; the worker kept its session.
    second_plan = stack.api.requests_for("You are the manager in a manager/worker pair")[3]
    assert "ZeroDivisionError" in str(second_plan.body["messages"])
    sessions = {s["result"]["session_id"] for s in run["steps"] if s["name"] == "work"}
    assert len(sessions) == 1
    costs = [s["result"]["usage"]["cost_usd"] for s in run["steps"]]
    assert all(cost > 0 for cost in costs)
    assert run["usage"]["cost_usd"] == pytest.approx(sum(costs))


def test_acc_task_runs_the_single_agent_loop_from_one_command_line(
    stack: Stack, tmp_path: Path
) -> None:
    stack.api.script(
        "Work on the task below in this git repository",
        use("Write", "Adding greet.py.", file_path="greet.py", content="def greet():\n    ...\n"),
        say("Added greet.py."),
        say('{"score": 0.5, "feedback": "greet() returns nothing"}'),
        use("Edit", file_path="greet.py", old_string="    ...", new_string='    return "hi"'),
        say("greet() returns 'hi' now."),
        say('{"score": 1, "feedback": "done"}'),
    )
    repo = make_repo(tmp_path / "project")
    command = ["task", "Add greet() to greet.py", "-i", "3", "--json", "--repo", str(repo)]
    done = subprocess.run(
        [sys.executable, "-m", "cli", *command],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"status": "completed"' in done.stdout
    found = re.search(r'"id": "([^"]+)"', done.stdout)
    assert found, done.stdout
    view = stack.finished(found.group(1))
    assert view["name"] == "task-add-greet-to-greet-py" and view["quality"] == 1.0
    worktree = stack.data_dir / "worktrees" / view["id"] / "worker"
    assert (worktree / "greet.py").read_text() == 'def greet():\n    return "hi"\n'
    assert [s["name"] for s in view["steps"]] == ["plan", "work", "review"] * 2
