"""`acc route --dry-run` and `acc agents`: the router's view of the declared agents, asked
of the API like every other command (`/v1/agents`), so they see exactly what the workers
see: the API's agents file and the load, breakers and affinity shared in Redis. Nothing
is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.markup import escape
from rich.table import Table

from cli.output import console, fail
from cli.output import settings as load_cli_settings
from cli.runs import ApiClient, ApiError, CliError, load_spec
from core.specs import RoutedAgent, StepSpec


def register(app: typer.Typer) -> None:
    """Add `route` and `agents` to the `acc` command line."""
    app.command()(route)
    app.command()(agents)


def route(
    task: Annotated[str, typer.Argument(help="A run spec file (its routed steps), or a task")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the decision only")] = False,
    capability: Annotated[str | None, typer.Option(help="Capability the task needs")] = None,
    min_skill: Annotated[float, typer.Option(min=0, max=1, help="Lowest skill accepted")] = 0.0,
    preferred: Annotated[str | None, typer.Option(help="Agent to use when available")] = None,
    affinity: Annotated[str | None, typer.Option(help="Affinity key shared by tasks")] = None,
    experiment: Annotated[str | None, typer.Option(help="A/B experiment to assign")] = None,
) -> None:
    """Show which declared agent would run a task, and why, without running anything.

    TASK is a run spec file (every routed step in it is routed) or a task's text, which
    then needs --capability (the text keys the A/B split when there is no --affinity).

    [bold]Examples[/]
      acc route --dry-run examples/routed-task.yaml
      acc route --dry-run "fix the flaky test" --capability code --min-skill 0.7
    """
    if not dry_run:
        raise fail("only --dry-run is supported: routing for real happens as a step starts")
    try:
        requests = _requests(task, capability, min_skill, preferred, affinity, experiment)
        with ApiClient.of(load_cli_settings()) as api:
            outcomes = [_decide(api, request) for _, request in requests]
    except CliError as exc:
        raise fail(str(exc)) from None
    table = Table("step", "capability", "agent", "score", "reasons", title="Routing (dry run)")
    for (label, request), outcome in zip(requests, outcomes, strict=True):
        table.add_row(escape(label), escape(request["capability"]), *_cells(outcome))
    console.print(table)
    raise typer.Exit(0 if all("agent" in o for o in outcomes) else 1)


def agents() -> None:
    """List the declared agents (the API's ACC_AGENTS_FILE) with their tasks in flight
    across all workers, the remote agents connected to any pool node (`acc agent
    connect`), and every circuit breaker's state.

    [bold]Examples[/]
      acc agents
    """
    try:
        with ApiClient.of(load_cli_settings()) as api:
            declared, breakers = api.agents(), api.breakers()
            pool = api.connected_agents()
    except CliError as exc:
        raise fail(str(exc)) from None
    if pool["agents"]:
        columns = ("agent", "node", "capabilities", "capacity", "in flight", "connected")
        remote = Table(*columns, title=f"Connected to the pool ({len(pool['nodes'])} node(s))")
        for a in pool["agents"]:
            since = max(0, time.time() - a["connected_at"])
            remote.add_row(
                escape(a["agent_id"]),
                escape(a["node"]),
                escape(", ".join(a["capabilities"])),
                str(a["capacity"]),
                str(a["load"]),
                f"{since:.0f}s ago",
            )
        console.print(remote)
    else:
        console.print(f"No remote agent is connected ({len(pool['nodes'])} pool node(s) up).")
    if not declared:
        console.print("No agents are declared: set ACC_AGENTS_FILE (see docs/AGENTS.md).")
    else:
        table = Table(
            "agent", "backend", "capabilities", "capacity", "in flight", "tags", "breaker"
        )
        for a in declared:
            skills = ", ".join(f"{c} {s:.2f}" for c, s in sorted(a["capabilities"].items()))
            name = escape(a["name"]) if a["enabled"] else f"[dim]{escape(a['name'])} (disabled)[/]"
            table.add_row(
                name,
                a["backend"],
                escape(skills),
                str(a["capacity"]),
                str(a["in_flight"]),
                escape(", ".join(a["tags"])),
                _state(a["breaker"]),
            )
        console.print(table)
    if breakers:
        rows = Table("breaker", "state", "failures", "probe in", title="Circuit breakers")
        for status in breakers:
            retry_at = status.get("retry_at")
            retry = "" if retry_at is None else f"{max(0, retry_at - time.time()):.0f}s"
            rows.add_row(
                escape(status["key"]), _state(status["state"]), str(status["failures"]), retry
            )
        console.print(rows)


def _decide(api: ApiClient, request: dict[str, Any]) -> dict[str, Any]:
    """The router's decision, or the API's refusal (no agent available, bad experiment)."""
    try:
        return api.route(request)
    except ApiError as exc:
        if exc.error.get("type") in ("no_agent_available", "invalid_input"):
            return exc.error
        raise


def _requests(
    task: str,
    capability: str | None,
    min_skill: float,
    preferred: str | None,
    affinity: str | None,
    experiment: str | None,
) -> list[tuple[str, dict[str, Any]]]:
    path = Path(task)
    if path.suffix in (".yaml", ".yml", ".json") or path.is_file():
        steps = list(_routed(load_spec(path), ""))
        if not steps:
            raise CliError(f"{path} has no routed steps (agent backend: routed)")
        return [(label, _request(agent, label)) for label, agent in steps]
    if capability is None:
        raise CliError("a task given as text needs --capability")
    request = {
        "capability": capability,
        "min_skill": min_skill,
        "preferred": preferred,
        "affinity_key": affinity,
        "experiment": experiment,
        "task_key": task,
    }
    return [(task, request)]


def _request(agent: RoutedAgent, label: str) -> dict[str, Any]:
    return {
        "capability": agent.capability,
        "min_skill": agent.min_skill,
        "preferred": agent.preferred,
        "affinity_key": agent.affinity_key,
        "experiment": agent.experiment,
        "task_key": label,
    }


def _routed(value: object, path: str) -> Iterator[tuple[str, RoutedAgent]]:
    """(where, spec) of every routed agent in a run spec, e.g. ("steps[1] (review)", ...)."""
    if isinstance(value, RoutedAgent):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            where = f"{path}.{name}" if path else name
            if isinstance(value, StepSpec) and name == "agent":
                where = f"{path} ({value.name})"
            yield from _routed(getattr(value, name), where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _routed(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _routed(item, f"{path}.{key}")


def _cells(outcome: dict[str, Any]) -> tuple[str, str, str]:
    if "agent" in outcome:
        agent = f"[bold]{escape(outcome['agent'])}[/] ({outcome['backend']})"
        agent += " [yellow]fallback[/]" if outcome["fallback_used"] else ""
        variant = f", variant {escape(outcome['variant'])}" if outcome.get("variant") else ""
        score = f"{outcome['score']:.3f} {outcome['strategy']}{variant}"
        return agent, score, escape("\n".join(outcome["reasons"]))
    details = outcome.get("details")
    excluded = details.get("excluded") if isinstance(details, dict) else None
    if excluded:
        why = "\n".join(f"{name}: {reason}" for name, reason in excluded.items())
        return "[red]none[/]", "", escape(why)
    return "[red]none[/]", "", escape(outcome.get("message", ""))


def _state(state: str) -> str:
    color = {"closed": "green", "open": "red", "half_open": "yellow"}.get(state, "dim")
    return f"[{color}]{state}[/]"
