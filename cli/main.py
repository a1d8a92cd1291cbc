"""The `acc` command line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli import agents as agent_commands
from cli import alerts as alert_commands
from cli import events as event_commands
from cli import health as health_command
from cli import keys as key_commands
from cli import pool as pool_commands
from cli import reports as report_commands
from cli import review as review_command
from cli import run_commands, stack
from cli import task as task_command
from cli.output import console, err_console, fail
from cli.output import settings as settings_
from cli.probes import PROBES
from cli.runs import ApiClient, CliError, follow, load_spec, print_outcome
from cli.supervisor import Supervisor
from core import db, temporal
from core.auth import ApiKeys
from core.errors import AccError
from core.settings import Settings, child_environment

EXAMPLE_SPEC = Path(__file__).resolve().parent.parent / "examples" / "hello-pipeline.yaml"
READY_TIMEOUT_SECONDS = 60.0

app = typer.Typer(
    name="acc",
    help="Durable orchestration for coding agents, on Temporal.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


run_commands.register(app)
agent_commands.register(app)
task_command.register(app)
report_commands.register(app)
pool_commands.register(app)
review_command.register(app)
health_command.register(app)
app.add_typer(key_commands.app, name="keys")
app.add_typer(event_commands.app, name="events")
app.add_typer(alert_commands.app, name="alerts")


class Shutdown(Exception):
    """SIGTERM arrived: stop like Ctrl-C does."""


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise Shutdown


async def _migrate(settings: Settings) -> None:
    """The schema, and the local admin key the CLI uses (ACC_DATA_DIR/admin.key)."""
    engine = db.create_engine(settings)
    try:
        await db.migrate(engine, settings.DATABASE_SCHEMA)
        await stack.ensure_admin_key(settings, ApiKeys(engine))
    except AccError as exc:
        raise stack.StackError(exc.message) from None
    finally:
        await engine.dispose()


async def _prepare_temporal(settings: Settings, embedded: bool) -> None:
    client = await temporal.connect(settings)
    await temporal.ensure_search_attributes(client)
    if embedded:
        await temporal.set_retention(client, settings.RETENTION_DAYS)


def _wait_ready(settings: Settings, part: stack.Part) -> None:
    probe = PROBES[part.probe]
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    reason: str | None = "not checked"
    while time.monotonic() < deadline:
        if part.proc is not None and part.proc.poll() is not None:
            raise stack.StackError(
                f"{part.title} exited with code {part.proc.returncode}; last log lines:\n"
                + stack.log_tail(settings, part)
            )
        reason = asyncio.run(probe(settings))
        if reason is None:
            return
        time.sleep(0.1)
    raise stack.StackError(
        f"{part.title} not ready after {READY_TIMEOUT_SECONDS:.0f}s: {reason}\n"
        + stack.log_tail(settings, part)
    )


def _urls(settings: Settings) -> dict[str, str]:
    return {
        "API docs": f"{settings.api_url}/docs",
        "Dashboard": f"{settings.api_url}/",
        "Temporal Web UI": settings.temporal_ui_url,
        "Pool (agents, live)": ", ".join(settings.pool_urls),
        "Kafka bootstrap": settings.kafka_bootstrap,
        "Logs": str(settings.data_dir / "logs"),
    }


def _start(settings: Settings, parts: list[stack.Part]) -> None:
    columns = (
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        tasks = {part.name: progress.add_task(part.title, total=1) for part in parts}
        for wave in sorted({part.wave for part in parts}):
            members = [part for part in parts if part.wave == wave]
            for part in members:
                if part.argv:
                    stack.launch(settings, part)
                elif part.name == "database":  # tables first, once, before anyone uses them
                    asyncio.run(_migrate(settings))
            for part in members:
                _wait_ready(settings, part)
                if part.name == "temporal":
                    asyncio.run(_prepare_temporal(settings, embedded=True))
                progress.update(tasks[part.name], completed=1)


@app.command()
def up(
    example: Annotated[
        bool, typer.Option("--example", help="Run examples/hello-pipeline.yaml once ready")
    ] = False,
) -> None:
    """Start the whole stack on this machine and keep serving until Ctrl-C or `acc down`.

    Starts what is not configured elsewhere: a Temporal dev server with its Web UI
    (unless ACC_TEMPORAL_ADDRESS), a Kafka-protocol broker (unless ACC_KAFKA_BOOTSTRAP),
    Redis (unless ACC_REDIS_URL), then the workers, the API and one WebSocket pool node
    (ACC_POOL_PORT), whose URL it prints. SQL is a SQLite file
    unless ACC_DATABASE_URL names PostgreSQL.

    [bold]Examples[/]
      acc up --example                 start, run the bundled example, keep serving
      ACC_API_PORT=8080 acc up         move the API to another port
      ACC_REDIS_URL=redis://127.0.0.1:6379/0 acc up   use an existing Redis
    """
    settings = settings_(discover=False)
    lock = stack.StackLock(settings)
    try:
        lock.acquire()
    except stack.StackError as exc:
        raise fail(str(exc)) from None
    settings = stack.with_payload_keys(settings)
    parts: list[stack.Part] = []
    code = 0
    # A shell that starts us in the background (`acc up &`) leaves SIGINT ignored; restore
    # Ctrl-C, and make SIGTERM (what `acc down` sends) stop us the same way.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        parts = stack.plan(settings)
        stack.check_ports(settings, parts)
        started = time.perf_counter()
        _start(settings, parts)
        if settings.TEMPORAL_ADDRESS is not None:
            asyncio.run(_prepare_temporal(settings, embedded=False))
        stack.write_state(settings, parts, _urls(settings))
        console.print(f"[bold green]acc is up[/] in {time.perf_counter() - started:.1f}s")
        table = Table(show_header=False, box=None)
        for name, url in _urls(settings).items():
            table.add_row(f"[bold]{name}[/]", url)
        console.print(table)
        if example:
            _run_example(settings)
        console.print("Serving. Press Ctrl-C or run `acc down` to stop everything.")
        Supervisor(settings, parts, _urls(settings), _say).run()
    except (KeyboardInterrupt, Shutdown):
        pass
    except (stack.StackError, CliError) as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        code = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if any(p.proc for p in parts):
            with console.status("Stopping..."):
                stack.stop_parts(parts)
            console.print("Stopped.")
        lock.release()
    raise typer.Exit(code)


def _say(message: str) -> None:
    err_console.print(f"[yellow]{escape(message)}[/]", highlight=False)


def _run_example(settings: Settings) -> None:
    try:
        with ApiClient.of(settings) as api:
            accepted = api.start(load_spec(EXAMPLE_SPEC))
            console.print(f"Example run [bold]{accepted['id']}[/] started")
            print_outcome(follow(api, accepted["id"], console), console)
    except CliError as exc:
        err_console.print(f"[red]example run failed:[/] {exc}", highlight=False)


@app.command()
def down() -> None:
    """Stop the stack that `acc up` started from this data directory."""
    settings = settings_()
    state = stack.read_state(settings.data_dir / "stack.json")
    pid = state.get("pid")
    if not isinstance(pid, int):
        console.print("acc is not running here.")
        raise typer.Exit(0)
    with console.status("Stopping acc..."):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + stack.STOP_GRACE_SECONDS * 3
        while time.monotonic() < deadline and stack.pid_alive(pid):
            time.sleep(0.1)
        # If `acc up` itself died hard, its parts are still recorded: stop them directly.
        parts = state.get("parts")
        if isinstance(parts, dict):
            stack.stop_groups({p: 2.0 for p in parts.values() if isinstance(p, int)})
    (settings.data_dir / "stack.json").unlink(missing_ok=True)
    console.print("acc stopped.")


# Parts the stack runs degraded without: what they serve waits or falls back.
DEGRADED_WITHOUT = {
    "kafka": "events wait in the outbox until it returns",
    "aggregator": "run lists come from Temporal visibility; analytics stop at its last report",
    "redis": "breakers fall back to each worker's own state; routed steps wait for it",
    "pool": "remote steps wait for an agent; `acc watch` polls the API instead",
}


@app.command()
def status() -> None:
    """Show the health of each part of the stack, how often `acc up` restarted it, and what
    runs degraded. Exit code 1 when a part the stack needs is down.

    Run it from the folder where `acc up` runs (or any folder below it), or set
    ACC_DATA_DIR: it finds the stack's `.acc/stack.json` there.
    """
    settings = settings_()
    state = stack.read_state(settings.data_dir / "stack.json")
    if not state:
        console.print(
            f"No stack started by `acc up` found from {escape(str(Path.cwd()))} (looked for "
            ".acc/stack.json here and in parent folders; ACC_DATA_DIR names another); "
            "checking the services the settings name."
        )
    names = ["temporal", "kafka", "redis", "database", "worker", "aggregator", "api", "pool"]
    results = asyncio.run(_probe_all(settings, names))
    restarts = state.get("restarts")
    restarted = restarts if isinstance(restarts, dict) else {}
    table = Table("part", "health", "restarts", "detail")
    for name in names:
        reason = results[name]
        if reason is None:
            health = "[green]ok[/]"
        elif name in DEGRADED_WITHOUT:
            health, reason = "[yellow]degraded[/]", f"{reason}; {DEGRADED_WITHOUT[name]}"
        else:
            health = "[red]down[/]"
        table.add_row(name, health, str(restarted.get(name, 0)), escape(reason or ""))
    console.print(table)
    if state.get("pid"):
        console.print(f"Started by `acc up` (pid {state['pid']}) from {settings.data_dir}")
    down = [n for n, r in results.items() if r is not None and n not in DEGRADED_WITHOUT]
    raise typer.Exit(1 if down else 0)


async def _probe_all(settings: Settings, names: list[str]) -> dict[str, str | None]:
    reasons = await asyncio.gather(*(PROBES[n](settings) for n in names))
    return dict(zip(names, reasons, strict=True))


class QueueChoice(StrEnum):
    all = "all"
    orchestration = "orchestration"
    agents = "agents"


@app.command()
def worker(
    queue: Annotated[
        QueueChoice, typer.Option(help="Which task queue(s) to poll")
    ] = QueueChoice.all,
) -> None:
    """Run Temporal workers (workflows and agent activities) until SIGTERM."""
    from workers.main import ALL_QUEUES, serve

    settings = settings_()
    _configure_logging(settings)
    queues = ALL_QUEUES if queue is QueueChoice.all else (queue.value,)
    try:
        asyncio.run(serve(settings, queues))  # type: ignore[arg-type]
    except Exception as exc:
        raise fail(str(exc)) from None


@app.command()
def aggregator() -> None:
    """Run an aggregator until SIGTERM: it reads the events topic in a consumer group
    (ACC_AGGREGATOR_GROUP; run several to share the partitions), keeps the runs
    projection and 1-minute rollups in SQL, and publishes 1-second windows to
    ACC_METRICS_TOPIC (docs/ANALYTICS.md)."""
    from analytics.aggregator import serve

    settings = settings_()
    _configure_logging(settings)
    try:
        asyncio.run(serve(settings))
    except Exception as exc:
        raise fail(str(exc)) from None


@app.command()
def api() -> None:
    """Serve the REST API and the dashboard on ACC_API_HOST:ACC_API_PORT, in
    ACC_API_WORKERS processes (1 by default)."""
    from api.main import create_app
    from api.server import STARTUP_FAILURE, StartupFailed, serve

    settings = settings_()
    _configure_logging(settings)
    workers = settings.API_WORKERS
    if workers > 1:  # each worker process builds the app from these settings, resolved
        os.environ.update(child_environment(settings))
    try:
        serve(
            None if workers > 1 else create_app(settings),
            settings.API_HOST,
            settings.API_PORT,
            workers,
            settings.LOG_LEVEL.lower(),
        )
    except OSError as exc:
        raise fail(
            f"cannot listen on {settings.API_HOST}:{settings.API_PORT} ({exc.strerror}): "
            "stop what uses the port, or set ACC_API_PORT"
        ) from None
    except StartupFailed:
        raise fail(
            "an API worker could not start: its log above says why", STARTUP_FAILURE
        ) from None


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.LOG_LEVEL.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def main() -> None:
    """Entry point. Exits with os._exit: short-lived Temporal clients can otherwise crash
    the interpreter at shutdown (a known SDK issue)."""
    code = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(ValueError):  # `acc review --lsp` closes stdout on exit
            stream.flush()
    os._exit(code)
