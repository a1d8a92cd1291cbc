"""`acc health`: the container's own health check. It asks this process's `/healthz` (or
`/readyz` with --ready) on loopback: ACC_HEALTH_PORT for processes without a server of
their own (workers, the aggregator), else the API's or the pool's port. Docker's
HEALTHCHECK runs the same check as `python -m core.health`, which imports only the
settings (it runs every few seconds)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from core.health import check_local
from core.settings import load_settings


def register(app: typer.Typer) -> None:
    app.command(name="health")(health)


def health(
    ready: Annotated[bool, typer.Option("--ready", help="Ask /readyz instead of /healthz")] = False,
    port: Annotated[
        int | None,
        typer.Option(help="Port to ask (default: ACC_HEALTH_PORT, else the API's or pool's)"),
    ] = None,
) -> None:
    """Exit 0 when this container's process answers its health probe, 1 otherwise."""
    ok, message = check_local(load_settings(), ready, port)
    (sys.stdout if ok else sys.stderr).write(("" if ok else "error: ") + message + "\n")
    raise typer.Exit(0 if ok else 1)
