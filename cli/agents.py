"""`acc route --dry-run` and `acc agents`: the router's view of the declared agents.

Both read the agents file locally (ACC_AGENTS_FILE) and, when Redis answers, the state all
workers share there (tasks in flight, breakers, affinity); without Redis they say so and
route as if every agent were idle and every breaker closed. Nothing is recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import RedisError
from rich.table import Table

from activities.agents.runtime import LiveRouter
from activities.resilience import BreakerStatus
from activities.routing import NoAgentAvailable, RouteRequest, RoutingDecision, agent_breaker
from cli.output import console, err_console, fail
from cli.output import settings as load_cli_settings
from cli.runs import CliError, load_spec
from core.agents_config import AgentsConfig, AgentsFileError, load_agents
from core.errors import InvalidInput
from core.settings import Settings
from core.specs import RoutedAgent, StepSpec

Outcome = RoutingDecision | NoAgentAvailable | InvalidInput


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
      acc route --dry-run review.yaml
      acc route --dry-run "fix the flaky test" --capability code --min-skill 0.7
    """
    if not dry_run:
        raise fail("only --dry-run is supported: routing for real happens as a step starts")
    settings, config = _load()
    try:
        requests = _requests(task, capability, min_skill, preferred, affinity, experiment)
    except CliError as exc:
        raise fail(str(exc)) from None
    outcomes = asyncio.run(_route_all(settings, config, requests))
    table = Table("step", "capability", "agent", "score", "reasons", title="Routing (dry run)")
    for (label, request), outcome in zip(requests, outcomes, strict=True):
        table.add_row(label, request.capability, *_cells(outcome))
    console.print(table)
    raise typer.Exit(0 if all(isinstance(o, RoutingDecision) for o in outcomes) else 1)


def agents() -> None:
    """List the declared agents (ACC_AGENTS_FILE) and every circuit breaker's state."""
    settings, config = _load()
    load, breakers = asyncio.run(_live_state(settings, config))
    table = Table("agent", "backend", "capabilities", "capacity", "in flight", "tags", "breaker")
    states = {status.key: status.state for status in breakers or []}
    for a in config.agents:
        skills = ", ".join(f"{cap} {skill:.2f}" for cap, skill in sorted(a.capabilities.items()))
        name = a.name if a.enabled else f"[dim]{a.name} (disabled)[/]"
        in_flight = "?" if load is None else str(load[a.name])
        breaker = "?" if breakers is None else states.get(agent_breaker(a.name), "closed")
        table.add_row(
            name,
            a.agent.backend,
            skills,
            str(a.capacity),
            in_flight,
            ", ".join(sorted(a.tags)),
            _state(breaker),
        )
    console.print(table)
    if breakers:
        rows = Table("breaker", "state", "failures", "probe in", title="Circuit breakers")
        for status in breakers:
            wait = None if status.retry_at is None else max(0, status.retry_at - time.time())
            retry = "" if wait is None else f"{wait:.0f}s"
            rows.add_row(status.key, _state(status.state), str(status.failures), retry)
        console.print(rows)


def _load() -> tuple[Settings, AgentsConfig]:
    settings = load_cli_settings()
    if settings.AGENTS_FILE is None:
        raise fail("no agents are declared: set ACC_AGENTS_FILE to an agents file")
    try:
        return settings, load_agents(settings.AGENTS_FILE)
    except AgentsFileError as exc:
        raise fail(exc.message) from None


def _requests(
    task: str,
    capability: str | None,
    min_skill: float,
    preferred: str | None,
    affinity: str | None,
    experiment: str | None,
) -> list[tuple[str, RouteRequest]]:
    path = Path(task)
    if path.suffix in (".yaml", ".yml", ".json") or path.is_file():
        steps = list(_routed(load_spec(path), ""))
        if not steps:
            raise CliError(f"{path} has no routed steps (agent backend: routed)")
        return [
            (
                label,
                RouteRequest(
                    capability=agent.capability,
                    min_skill=agent.min_skill,
                    preferred=agent.preferred,
                    affinity_key=agent.affinity_key,
                    experiment=agent.experiment,
                    task_key=label,
                ),
            )
            for label, agent in steps
        ]
    if capability is None:
        raise CliError("a task given as text needs --capability")
    request = RouteRequest(
        capability=capability,
        min_skill=min_skill,
        preferred=preferred,
        affinity_key=affinity,
        experiment=experiment,
        task_key=task,
    )
    return [(task, request)]


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


async def _connect(settings: Settings) -> Redis | None:
    redis = Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=2)
    try:
        await redis.ping()
    except (RedisError, OSError) as exc:
        await redis.aclose()
        err_console.print(
            f"[yellow]Redis is not reachable at {settings.redis_url} ({exc}):[/] "
            "no live load, breakers or affinity",
            highlight=False,
        )
        return None
    return redis


async def _route_all(
    settings: Settings, config: AgentsConfig, requests: list[tuple[str, RouteRequest]]
) -> list[Outcome]:
    redis = await _connect(settings)
    live = LiveRouter(settings, redis, config) if redis is not None else None
    router = config.router()
    outcomes: list[Outcome] = []
    try:
        for _, request in requests:
            try:
                if live is not None:
                    outcomes.append(await live.decide(request, settings.TENANT))
                else:
                    outcomes.append(router.route(request))
            except NoAgentAvailable as exc:
                outcomes.append(exc)
            except (InvalidInput, ValueError) as exc:
                outcomes.append(InvalidInput(str(exc)))
    finally:
        if redis is not None:
            await redis.aclose()
    return outcomes


async def _live_state(
    settings: Settings, config: AgentsConfig
) -> tuple[dict[str, int] | None, list[BreakerStatus] | None]:
    redis = await _connect(settings)
    if redis is None:
        return None, None
    try:
        live = LiveRouter(settings, redis, config)
        load = await live.leases.in_flight(a.name for a in config.agents)
        return load, await live.breakers.states()
    finally:
        await redis.aclose()


def _cells(outcome: Outcome) -> tuple[str, str, str]:
    if isinstance(outcome, RoutingDecision):
        agent = f"[bold]{outcome.agent}[/] ({outcome.backend})"
        agent += " [yellow]fallback[/]" if outcome.fallback_used else ""
        variant = f", variant {outcome.variant}" if outcome.variant else ""
        return agent, f"{outcome.score:.3f} {outcome.strategy}{variant}", "\n".join(outcome.reasons)
    if isinstance(outcome, NoAgentAvailable) and outcome.excluded:
        why = "\n".join(f"{name}: {reason}" for name, reason in outcome.excluded.items())
        return "[red]none[/]", "", why
    return "[red]none[/]", "", outcome.message


def _state(state: str) -> str:
    color = {"closed": "green", "open": "red", "half_open": "yellow"}.get(state, "dim")
    return f"[{color}]{state}[/]"
