"""What every command shares: the consoles, one-line errors, settings."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from cli import stack
from core.settings import Settings, load_settings

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `error: ...` on stderr and return the Exit to raise."""
    err_console.print(f"[red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def settings(discover: bool = True) -> Settings:
    """The CLI's settings. Without ACC_DATA_DIR, a stack running from this folder or a parent
    (its `.acc/stack.json`) supplies where its services are, unless ACC_* says otherwise;
    `acc up` itself does not look (`discover=False`): it starts a stack here."""
    try:
        base = load_settings()
        if not discover or "DATA_DIR" in base.model_fields_set:
            return base
        found = stack.find_state(Path.cwd())
        if found is None:
            return base
        recorded = stack.read_state(found).get("settings")
        values = recorded if isinstance(recorded, dict) else {}
        kept = {k: v for k, v in values.items() if k not in base.model_fields_set}
        return load_settings(DATA_DIR=found.parent, **kept)
    except Exception as exc:  # pydantic ValidationError names the ACC_ variable
        raise fail(f"invalid ACC_* setting:\n{exc}") from None
