"""Commands about runs: run, coordinate, watch, history, replay, fork, approve, reject,
cancel, spawn and schema. They talk to the API (ACC_API_URL); `replay` also runs the
workflow code of this checkout against the run's recorded history."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.prompt import Prompt
from rich.table import Table
from rich.text import Text

from cli import plan as dry_run
from cli.output import console, fail, settings
from cli.runs import ApiClient, CliError, dump, follow, load_spec, print_outcome
from core.specs import PATTERNS, RunSpec, parse_spec, run_spec_schema
from workflows import complexity

SpecArg = Annotated[Path, typer.Argument(help="Run spec file (YAML or JSON)", exists=False)]
RunId = Annotated[str, typer.Argument(help="The run's id")]


def register(app: typer.Typer) -> None:
    for command in (
        run,
        coordinate,
        watch,
        history,
        replay,
        fork,
        approve,
        reject,
        cancel,
        spawn,
        schema,
    ):
        app.command()(command)
    # Short aliases, hidden from the command list.
    app.command("r", hidden=True)(run)
    app.command("ls", hidden=True)(history)


def _start_and_follow(spec: RunSpec, detach: bool, as_json: bool, step: bool) -> None:
    try:
        with ApiClient.of(settings()) as api:
            accepted = api.start(spec)
            if detach:
                console.print(accepted["id"])
                raise typer.Exit(0)
            console.print(f"Run [bold]{accepted['id']}[/] started")
            decide = _ask(api) if step else None
            try:
                final = follow(api, accepted["id"], console, on_waiting=decide)
            except KeyboardInterrupt:
                console.print(
                    f"Detached; the run goes on. `acc watch {accepted['id']}` "
                    f"follows it, `acc cancel {accepted['id']}` stops it."
                )
                raise typer.Exit(130) from None
    except CliError as exc:
        raise fail(str(exc)) from None
    if as_json:
        console.print_json(dump(final))
    else:
        print_outcome(final, console)
    raise typer.Exit(0 if final["status"] == "completed" else 1)


def _ask(api: ApiClient) -> Any:
    def decide(view: dict[str, Any]) -> None:
        waiting = view["waiting"]
        what = waiting.get("step") or "the run"
        answer = Prompt.ask(
            f"[bold yellow]{waiting['kind']}[/] for [bold]{what}[/]: {waiting['reason']}. "
            "Continue?",
            choices=["y", "n"],
            default="y",
            console=console,
        )
        api.decide(view["id"], answer == "y", comment="interactive step-through")

    return decide


def _step_through(raw: Any) -> Any:
    """Every agent step asks for approval first (unless it already does)."""
    if isinstance(raw, dict):
        out = {k: _step_through(v) for k, v in raw.items()}
        if "name" in out and "agent" in out and out.get("approval") is None:
            out["approval"] = {"reason": "step-through"}
        return out
    if isinstance(raw, list):
        return [_step_through(v) for v in raw]
    return raw


def run(
    spec: SpecArg,
    dry_run_: Annotated[
        bool, typer.Option("--dry-run", help="Validate and show the plan; start nothing")
    ] = False,
    step: Annotated[
        bool, typer.Option("--step", "-s", help="Interactive: approve each step")
    ] = False,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Print the id and return")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final run as JSON")] = False,
) -> None:
    """Start a run from a spec file and follow its steps live.

    The spec is validated before anything starts; a bad field is named.

    [bold]Examples[/]
      acc run examples/hello-pipeline.yaml
      acc run examples/supervisor.yaml --dry-run     plan, spawn decisions, budget estimate
      acc run examples/saga.yaml --step              approve each step as it comes
      acc run my-spec.json --detach                  print the run id and return
    """
    try:
        run_spec = load_spec(spec)
    except CliError as exc:
        raise fail(str(exc)) from None
    if dry_run_:
        tree, est = dry_run.plan(run_spec)
        console.print(tree)
        console.print(
            f"Estimate (upper bound): {est.calls} agent call(s), ≤{est.wall_seconds:g}s wall "
            f"time, ≤{est.llm_tokens} LLM tokens"
        )
        for note in est.notes:
            console.print(f"note: {escape(note)}")
        budget = run_spec.budget
        if budget.max_tokens or budget.max_cost_usd or budget.max_wall_seconds:
            console.print(f"Budget: {escape(str(budget.model_dump(exclude_none=True)))}")
        console.print("[green]Valid.[/] Nothing was started (dry run).")
        raise typer.Exit(0)
    if step:
        run_spec = parse_spec(_step_through(run_spec.model_dump(mode="json")))
    _start_and_follow(run_spec, detach, as_json, step)


def coordinate(
    pattern: Annotated[str, typer.Argument(help=f"One of: {', '.join(PATTERNS[:3])}")],
    agent: Annotated[list[str], typer.Option("--agent", "-a", help="A shell command; repeat")],
    input_: Annotated[str, typer.Option("--input", "-i", help="The run's input")] = "",
    reducer: Annotated[str, typer.Option(help="scatter-gather reducer")] = "collect",
    name: Annotated[str, typer.Option(help="Run name")] = "adhoc",
    dry_run_: Annotated[bool, typer.Option("--dry-run", help="Show the plan only")] = False,
) -> None:
    """Coordinate shell agents without writing a spec file.

    pipeline: the agents run in order, each reading the previous output.
    scatter-gather: every agent gets the input; the reducer combines their answers.

    [bold]Examples[/]
      acc coordinate pipeline -a "echo hello" -a "tr a-z A-Z"
      acc coordinate scatter-gather -a "echo yes" -a "echo yes" -a "echo no" --reducer majority
    """
    steps = [
        {"name": f"agent-{n}", "agent": {"backend": "shell", "command": cmd}}
        for n, cmd in enumerate(agent, 1)
    ]
    raw: dict[str, Any] = {"name": name, "input": input_, "pattern": pattern}
    if pattern == "pipeline":
        raw["steps"] = steps
    elif pattern == "scatter-gather":
        raw |= {"agents": steps, "reducer": reducer}
    else:
        raise fail(
            f"coordinate builds pipeline or scatter-gather runs; for {pattern!r} write a "
            "spec file (see examples/) and use `acc run`"
        )
    try:
        run_spec = parse_spec(raw)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if dry_run_:
        console.print(dry_run.plan(run_spec)[0])
        raise typer.Exit(0)
    _start_and_follow(run_spec, detach=False, as_json=False, step=False)


def watch(run_id: RunId) -> None:
    """Follow a run that is already going (or show how it ended)."""
    try:
        with ApiClient.of(settings()) as api:
            final = follow(api, run_id, console)
    except CliError as exc:
        raise fail(str(exc)) from None
    print_outcome(final, console)


def history(
    status: Annotated[str | None, typer.Option(help="running, completed, failed, ...")] = None,
    pattern: Annotated[str | None, typer.Option(help="pipeline, saga, ...")] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-q", help="A piece of the id or name, any case")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Started since: 30m, 2h, 7d ago, or a time (UTC)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Started before: as --since")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many")] = 20,
    cursor: Annotated[
        str | None, typer.Option(help="Continue after a page: the cursor it printed")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The page as JSON")] = False,
) -> None:
    """List recent runs, newest first (alias: `acc ls`).

    Examples:
      acc history --status failed --since 1d
      acc ls -q nightly --pattern saga --limit 50
      acc history --since 2026-11-01 --until 2026-11-08 --json
    """
    from cli.events import parse_since

    try:
        moments = {
            k: parse_since(v).isoformat() for k, v in (("since", since), ("until", until)) if v
        }
    except ValueError as exc:
        raise fail(str(exc).replace("--since", "--since/--until")) from None
    try:
        with ApiClient.of(settings()) as api:
            runs, next_cursor = api.runs(
                status=status, pattern=pattern, q=search, limit=limit, cursor=cursor, **moments
            )
    except CliError as exc:
        raise fail(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps({"runs": runs, "next_cursor": next_cursor}, indent=2) + "\n")
        return
    table = Table("pattern", "status", "started", "closed")
    table.add_column("id", no_wrap=True)  # whole, so it can be copied
    for r in runs:
        table.add_row(
            r["pattern"] or "",
            r["status"],
            _clock(r["started_at"]),
            _clock(r["closed_at"]),
            r["id"],
        )
    console.print(table)
    if next_cursor is not None:
        console.print(f"[dim]more: acc history --cursor {next_cursor} (same filters)[/dim]")


def _clock(value: str | None) -> str:
    return value[:19].replace("T", " ") if value else ""


def replay(
    run_id: Annotated[str, typer.Argument(help="Run id (or any label with --file)")],
    file: Annotated[Path | None, typer.Option(help="Replay a saved history JSON instead")] = None,
) -> None:
    """Replay a past run's history against this checkout's workflow code and print its
    timeline. Exit code 1 if the code would no longer produce the same history
    (non-determinism): running workflows of that kind would break on deploy.
    """
    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer

    from core.history import decode_history, parse
    from core.temporal import data_converter
    from workflows import WORKFLOWS

    try:
        if file is not None:
            raw = json.loads(file.read_text())
        else:
            with ApiClient.of(settings()) as api:
                raw = api.history(run_id)["history"]
    except (CliError, OSError, ValueError) as exc:
        raise fail(str(exc)) from None
    converter = data_converter(settings())
    history_ = WorkflowHistory.from_json(run_id, raw)
    timeline = parse(asyncio.run(decode_history(history_, converter.payload_codec))).timeline
    title = escape(run_id)
    table = Table("#", "step / event", "status", "backend", "output or error", title=title)
    for e in timeline.entries:
        detail = (e.error or e.output or e.input or "").strip().replace("\n", " ⏎ ")[:70]
        table.add_row(
            "" if e.index is None else str(e.index),
            Text(f"{e.kind}: {e.name}"),
            e.status,
            e.backend or "",
            Text(detail),
        )
    console.print(table)
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=converter)
    result = asyncio.run(replayer.replay_workflow(history_, raise_on_replay_failure=False))
    if result.replay_failure is not None:
        raise fail(f"replay FAILED against the current code: {result.replay_failure}")
    console.print(
        f"[green]Replay OK:[/] {len(history_.events)} events reproduced by the current code."
    )


def fork(
    run_id: RunId,
    from_step: Annotated[int, typer.Option("--from-step", "-n", help="First step to run again")],
    input_: Annotated[
        str | None, typer.Option("--input", "-i", help="New input for that step")
    ] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d")] = False,
) -> None:
    """Start a new run that reuses the recorded results of the steps before N (no agent
    runs again) and continues from step N, optionally with edited input.

    Step numbers are the `#` column of `acc replay <run-id>`.

    [bold]Example[/]
      acc fork hello-pipeline-1a2b3c --from-step 1 --input "hello again"
    """
    try:
        with ApiClient.of(settings()) as api:
            accepted = api.fork(run_id, from_step, input_)
            console.print(
                f"Fork [bold]{accepted['id']}[/] of {escape(run_id)} started from step {from_step}"
            )
            if detach:
                raise typer.Exit(0)
            final = follow(api, accepted["id"], console)
    except CliError as exc:
        raise fail(str(exc)) from None
    print_outcome(final, console)
    raise typer.Exit(0 if final["status"] == "completed" else 1)


def _decide(run_id: str, approve_: bool, comment: str) -> None:
    try:
        with ApiClient.of(settings()) as api:
            view = api.decide(run_id, approve_, comment)
    except CliError as exc:
        raise fail(str(exc)) from None
    console.print(f"{'Approved' if approve_ else 'Rejected'}; {run_id} is {view['status']}.")


def approve(run_id: RunId, comment: Annotated[str, typer.Option("--comment", "-m")] = "") -> None:
    """Approve what a waiting run waits for (a step's approval, or going past its budget)."""
    _decide(run_id, True, comment)


def reject(run_id: RunId, comment: Annotated[str, typer.Option("--comment", "-m")] = "") -> None:
    """Reject what a waiting run waits for; the run fails with the rejection."""
    _decide(run_id, False, comment)


def cancel(run_id: RunId) -> None:
    """Cancel a running run; its running step's processes are stopped."""
    try:
        with ApiClient.of(settings()) as api:
            api.cancel(run_id)
    except CliError as exc:
        raise fail(str(exc)) from None
    console.print(f"Cancelling {run_id}.")


def spawn(
    plan_text: Annotated[str, typer.Argument(help="A plan: JSON subtasks, or one task a line")],
    worker: Annotated[
        list[str] | None, typer.Option("--worker", "-w", help="Worker capability; repeat")
    ] = None,
    limit: Annotated[int, typer.Option(help="Spawn limit per iteration")] = 8,
) -> None:
    """Show the spawn decision the complexity analyzer makes for a plan: how many workers,
    with which capability, how complex each subtask is, and any degradation.

    [bold]Example[/]
      acc spawn $'refactor the db layer\\nwrite tests\\nupdate docs' -w default -w testing
    """
    result = complexity.plan(plan_text, worker or ["default"], limit)
    table = Table("#", "capability", "complexity", "why", "subtask")
    for n, a in enumerate(result.assignments, 1):
        table.add_row(
            str(n),
            Text(a.capability),
            f"{a.complexity:.2f}",
            Text(", ".join(a.reasons)),
            Text(a.task.replace("\n", " ⏎ ")[:60]),
        )
    console.print(table)
    for note in result.notes:
        console.print(note, markup=False)


def schema() -> None:
    """Print the JSON Schema of run specs (also at GET /v1/schema/run-spec)."""
    console.print_json(json.dumps(run_spec_schema()))
