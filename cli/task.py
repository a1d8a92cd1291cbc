"""`acc task`: the original tool's loop in one line, without a spec file.

    acc task "implement X" --iterations 5               one Claude Code agent
    acc task "implement X" --iterations 5 --dual-agent  a manager and a worker

Both are supervisor runs (`task_spec` builds them; examples/claude-code/ holds the same specs
as files). Alone, a Claude Code worker does the task in a git worktree of the repository,
then checks its own work and scores it; below the quality gate it goes again with its own
feedback, in the same session. As a pair, a Claude Code manager plans each step as a
subtask, the worker does it in its worktree, and the manager reviews the worker's copy and
scores it; below the gate the manager plans again from its own feedback. Either stops at the
gate or after `--iterations`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from cli.output import console, fail, settings
from cli.runs import ApiClient, CliError, dump, follow, print_outcome
from core.specs import parse_spec
from workflows.scoring import SCORE_REQUEST

WORKER_ALONE = (
    "Work on the task below in this git repository (your current directory) until it is "
    "done: change the code, and run the project's tests or a quick check when you can. End "
    "with a short report: what you changed, how you checked it, what is left."
)
SELF_REVIEW = (
    "Now check your work against the task: read the code you changed again and run the "
    "checks you can, without changing anything. Score how completely and correctly the "
    "task is done: 1 means done and correct; below {gate} means another round is needed. "
)
WORKER = (
    "You are the worker in a manager/worker pair, working in a git repository (your current "
    "directory). Do the subtask below completely: change the code, and run the project's "
    "tests or a quick check when you can. Keep to the subtask. End with a short report: "
    "what you changed, how you checked it, what is left."
)
MANAGER_PLAN = (
    "You are the manager in a manager/worker pair. The worker changes the code in its own "
    "copy of the repository (the additional working directory ending in /worker); you plan "
    "and judge, and change nothing. Read the task below, and the feedback on the previous "
    "attempt if there is any, look at the code as much as you need, and plan the worker's "
    'next step. Answer with JSON only: {"subtasks": [{"task": "<a self-contained '
    'instruction for the worker>"}]}, one subtask unless the work splits cleanly.'
)
MANAGER_REVIEW = (
    "Review the worker's report below against the task: read the files it changed in its "
    "copy of the repository (the additional working directory ending in /worker), without "
    "changing anything. Score how completely and correctly the task is done: 1 means done "
    "and correct; below {gate} sends the worker back with your feedback. "
)
# The single agent's "manager" only hands the brief (task and feedback) to the worker.
PASS_THROUGH = (
    "import json, sys; print(json.dumps({'subtasks': [{'task': sys.stdin.read().strip()}]}))"
)
READ_ONLY = ["Read", "Glob", "Grep", "Bash(git diff:*)", "Bash(git status:*)", "Bash(git log:*)"]


def task_spec(
    task: str,
    repo: str,
    *,
    iterations: int = 5,
    dual_agent: bool = False,
    gate: float = 0.7,
    model: str | None = None,
    allow: list[str] | None = None,
    permission_mode: str = "acceptEdits",
    step_timeout: float = 1800,
    max_cost_usd: float | None = None,
) -> dict[str, Any]:
    """The supervisor spec `acc task` runs (a plain dict, validated by `parse_spec`)."""
    common: dict[str, Any] = {"backend": "claude_code", "repo": repo, "resume": True}
    if model:
        common["model"] = model
    worker = {
        **common,
        "prompt": WORKER if dual_agent else WORKER_ALONE,
        "permission_mode": permission_mode,
        "allowed_tools": [*READ_ONLY, *(allow or [])],
        "accept_denials": True,  # the gate judges the outcome; the denial is reported
    }
    judge = {**common, "permission_mode": "plan", "allowed_tools": list(READ_ONLY)}
    if dual_agent:
        looks_at_worker = {**judge, "role": "manager", "other_worktrees": ["worker"]}
        manager = {**looks_at_worker, "prompt": MANAGER_PLAN}
        reviewer = {
            **looks_at_worker,
            "allowed_tools": list(READ_ONLY),
            "other_worktrees": ["worker"],
            "prompt": MANAGER_REVIEW.format(gate=gate) + SCORE_REQUEST,
        }
    else:
        manager = {"backend": "shell", "command": ["python3", "-c", PASS_THROUGH]}
        reviewer = {**judge, "prompt": SELF_REVIEW.format(gate=gate) + SCORE_REQUEST}

    def retry() -> dict[str, Any]:  # a 429, an overloaded API, a lost worker
        return {"max_attempts": 3, "initial_interval_seconds": 5}

    spec: dict[str, Any] = {
        "name": f"task-{_slug(task)}",
        "pattern": "supervisor",
        "description": ("Claude Code manager and worker" if dual_agent else "Claude Code")
        + f" on {repo}",
        "input": task,
        "quality_threshold": gate,
        "max_iterations": iterations,
        "max_parallel_workers": 1,
        "max_workers_per_iteration": 1,
        "manager": {"name": "plan", "agent": manager, "timeout_seconds": step_timeout},
        "workers": {
            "default": {
                "name": "work",
                "agent": worker,
                "timeout_seconds": step_timeout,
                "retry": retry(),
            }
        },
        "reviewer": {
            "name": "review",
            "agent": reviewer,
            "timeout_seconds": step_timeout,
            "retry": retry(),
        },
    }
    if dual_agent:
        spec["manager"]["retry"] = retry()
    if max_cost_usd is not None:
        spec["budget"] = {"max_cost_usd": max_cost_usd}
    return spec


class _PlainDumper(yaml.SafeDumper):
    """No `&id001` anchors: the spec reads as written."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)[:40].strip("-") or "run"


def task(
    description: Annotated[str, typer.Argument(help="What to do, in plain words")],
    iterations: Annotated[int, typer.Option("--iterations", "-i", min=1, max=20)] = 5,
    dual_agent: Annotated[
        bool, typer.Option("--dual-agent", help="A manager plans and reviews, a worker codes")
    ] = False,
    repo: Annotated[
        Path, typer.Option(help="The git repository to work on (default: here)")
    ] = Path("."),
    gate: Annotated[float, typer.Option(min=0, max=1, help="Quality gate, 0..1")] = 0.7,
    model: Annotated[str | None, typer.Option(help="Claude model, e.g. sonnet")] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option("--allow", help="A tool the worker may use unasked; repeat"),
    ] = None,
    permission_mode: Annotated[
        str, typer.Option(help="The worker's: default, acceptEdits, bypassPermissions")
    ] = "acceptEdits",
    max_cost: Annotated[float | None, typer.Option(help="Stop the run at this many USD")] = None,
    step_timeout: Annotated[float, typer.Option(help="Seconds per step")] = 1800,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the spec; start nothing")
    ] = False,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Print the id and return")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final run as JSON")] = False,
) -> None:
    """Run Claude Code on a task in a repository, iterating until a quality gate passes.

    One agent by default: it works, checks its own work and scores it, and goes again
    until the score reaches the gate. With --dual-agent a Claude Code manager plans and
    reviews while a Claude Code worker codes. The work happens in git worktrees under
    ACC_DATA_DIR/worktrees/<run id>/, never in your checkout.

    [bold]Examples[/]
      acc task "add a --verbose flag" --iterations 5
      acc task "fix the failing tests" --dual-agent --allow "Bash(pytest:*)"
      acc task "implement X" --dual-agent --dry-run      print the spec only
    """
    raw = task_spec(
        description,
        str(repo.expanduser().resolve()),
        iterations=iterations,
        dual_agent=dual_agent,
        gate=gate,
        model=model,
        allow=allow,
        permission_mode=permission_mode,
        step_timeout=step_timeout,
        max_cost_usd=max_cost,
    )
    try:
        spec = parse_spec(raw)
    except ValueError as exc:
        raise fail(f"the options make no valid run: {exc}") from None
    if dry_run:
        typer.echo(yaml.dump(raw, Dumper=_PlainDumper, sort_keys=False, width=100), nl=False)
        raise typer.Exit(0)
    try:
        with ApiClient.of(settings()) as api:
            accepted = api.start(spec)
            if detach:
                console.print(accepted["id"])
                raise typer.Exit(0)
            console.print(f"Run [bold]{accepted['id']}[/] started")
            try:
                final = follow(api, accepted["id"], console)
            except KeyboardInterrupt:
                console.print(
                    f"Detached; the run goes on. `acc watch {accepted['id']}` follows it."
                )
                raise typer.Exit(130) from None
    except CliError as exc:
        raise fail(str(exc)) from None
    if as_json:
        console.print_json(dump(final))
    else:
        print_outcome(final, console)
    raise typer.Exit(0 if final["status"] == "completed" else 1)


def register(app: typer.Typer) -> None:
    """Add `task` to the `acc` command line."""
    app.command()(task)
