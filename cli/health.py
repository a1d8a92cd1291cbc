"""`acc health`: the container's own health check (Docker HEALTHCHECK). It asks this
process's `/healthz` (or `/readyz` with --ready) on loopback: the API's port, or
ACC_HEALTH_PORT for processes without an API (workers)."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer

from cli.output import console, fail, settings


def register(app: typer.Typer) -> None:
    app.command(name="health")(health)


def health(
    ready: Annotated[bool, typer.Option("--ready", help="Ask /readyz instead of /healthz")] = False,
    port: Annotated[
        int | None, typer.Option(help="Port to ask (default: ACC_HEALTH_PORT, else ACC_API_PORT)")
    ] = None,
) -> None:
    """Exit 0 when this container's process answers its health probe, 1 otherwise."""
    current = settings()
    port = port or current.HEALTH_PORT or current.API_PORT
    url = f"http://127.0.0.1:{port}/{'readyz' if ready else 'healthz'}"
    try:
        resp = httpx.get(url, timeout=3)
    except httpx.HTTPError as exc:
        raise fail(f"no answer from {url}: {exc or type(exc).__name__}") from None
    if resp.status_code != 200:
        raise fail(f"{url} answered {resp.status_code}: {resp.text[:200]}")
    console.print(f"{url}: ok")
