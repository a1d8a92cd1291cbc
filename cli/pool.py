"""`acc pool` (one pool node) and `acc agent connect` (the reference remote agent)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.markup import escape

from cli.output import console, err_console, fail
from cli.output import settings as load_cli_settings

agent_app = typer.Typer(help="Run this machine as a remote agent of the pool.")
BACKENDS = ("shell", "llm", "claude_code", "python")


def register(app: typer.Typer) -> None:
    app.command()(pool)
    app.add_typer(agent_app, name="agent")


def pool(
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the protocol's JSON Schema and exit")
    ] = False,
) -> None:
    """Run one pool node on ACC_POOL_HOST:ACC_POOL_PORT: remote agents and live subscribers
    over WebSocket, its state shared with the other nodes in Redis. SIGTERM drains it.

    [bold]Examples[/]
      acc pool
      ACC_POOL_PORT=8766 ACC_POOL_NODE_ID=b acc pool     a second node beside the first
    """
    from pool.protocol import json_schema

    if schema:
        console.print_json(json.dumps(json_schema()))
        return
    from pool.main import configure_logging, serve

    settings = load_cli_settings()
    configure_logging(settings)
    try:
        asyncio.run(serve(settings))
    except Exception as exc:
        raise fail(str(exc)) from None


def _spec(backend: str, spec: str | None, command: str | None, model: str | None) -> dict[str, Any]:
    if spec is not None:
        path = Path(spec)
        text = path.read_text() if path.is_file() else spec
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise fail(f"--spec is neither a file nor YAML/JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise fail("--spec must be an agent spec (a mapping with `backend`)")
        return loaded
    if backend not in BACKENDS:
        raise fail(f"unknown --backend {backend!r}; use one of {', '.join(BACKENDS)}")
    out: dict[str, Any] = {"backend": backend}
    if command is not None:
        out["command"] = command
    if model is not None:
        out["model"] = model
    if backend == "llm" and model is None:
        raise fail("--backend llm needs --model (e.g. --model gpt-4o-mini)")
    return out


@agent_app.command("connect")
def connect(
    capability: Annotated[
        list[str], typer.Option("--capability", "-c", help="What it can do (repeatable)")
    ],
    backend: Annotated[str, typer.Option(help="shell, llm, claude_code or python")] = "shell",
    command: Annotated[
        str | None, typer.Option(help="shell: run this for every task (else the step's prompt)")
    ] = None,
    model: Annotated[str | None, typer.Option(help="llm: the model")] = None,
    spec: Annotated[
        str | None, typer.Option(help="A full agent spec (YAML/JSON file or text) instead")
    ] = None,
    agent_id: Annotated[str | None, typer.Option("--id", help="Stable agent id")] = None,
    capacity: Annotated[int, typer.Option(min=1, help="Tasks at once")] = 1,
    url: Annotated[
        str | None, typer.Option(help="Pool node(s), comma-separated (ACC_POOL_URL)")
    ] = None,
) -> None:
    """Connect this machine to the pool as an agent and run the tasks it is given with one
    of acc's backends, until Ctrl-C. It reconnects (backoff with jitter) when a node goes.

    The credential is the CLI's (ACC_API_KEY...), and needs the agents:connect scope. A
    wss:// node is verified against ACC_POOL_TLS_CA (the system's roots when unset).

    [bold]Examples[/]
      acc agent connect -c code --backend shell                 the step's prompt is the command
      acc agent connect -c review --backend llm --model gpt-4o-mini
      acc agent connect -c test --backend shell --command "pytest -q" --id ci-1
      ACC_POOL_TLS_CA=ca.pem acc agent connect -c code --url wss://pool.example.com:8765
    """
    from pool.agent import AgentClient
    from pool.retry import Refused

    settings = load_cli_settings()
    token = settings.api_key() or ""
    if not token and settings.AUTH == "on":
        raise fail("no credential: set ACC_API_KEY (a key with the agents:connect scope)")
    urls = [u.strip() for u in url.split(",")] if url else settings.pool_urls

    def say(kind: str, data: dict[str, Any]) -> None:
        if kind == "registered":
            console.print(
                f"[green]connected[/] as [bold]{escape(str(data['agent_id']))}[/] "
                f"on node {escape(data['node'])} (tenant {escape(data['tenant'])})"
            )
        elif kind in ("task", "result", "error", "cancelled", "reconnect", "disconnected"):
            detail = " ".join(f"{k}={v}" for k, v in data.items() if k != "v")
            console.print(f"{kind}: {escape(detail)}", highlight=False)

    try:
        client = AgentClient(
            urls,
            token,
            capabilities=capability,
            spec=_spec(backend, spec, command, model),
            settings=settings,
            agent_id=agent_id,
            capacity=capacity,
            on_event=say,
        )
    except ValueError as exc:  # pydantic's ValidationError names the field
        raise fail(f"bad agent options:\n{exc}") from None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await client.run(stop)

    try:
        asyncio.run(main())
    except Refused as exc:
        raise fail(f"the pool refused this agent: {exc}") from None
    err_console.print("disconnected.")
