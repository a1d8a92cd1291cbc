"""What every command shares: the consoles, one-line errors, settings."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from core.settings import Settings, load_settings

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `error: ...` on stderr and return the Exit to raise."""
    err_console.print(f"[red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def settings() -> Settings:
    try:
        return load_settings()
    except Exception as exc:  # pydantic ValidationError names the ACC_ variable
        raise fail(f"invalid ACC_* setting:\n{exc}") from None
