"""`acc keys create|list|revoke`: API keys of your tenant (an admin key is needed; `acc up`
made one for this machine, in ACC_DATA_DIR/admin.key). `acc keys bootstrap` makes a
deployment's first admin key straight in its database."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.output import console, fail, settings
from cli.runs import ApiClient, CliError
from core import db
from core.auth import ApiKeys

app = typer.Typer(help="API keys: make, list and revoke them.", no_args_is_help=True)
SCOPES_HELP = "runs:read, runs:write, runs:approve, agents:connect, admin (repeat)"


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="Who or what will use the key")],
    scope: Annotated[list[str], typer.Option("--scope", "-s", help=SCOPES_HELP)],
    group: Annotated[list[str] | None, typer.Option("--group", "-g", help="Approval group")] = None,
    expires_in_days: Annotated[float | None, typer.Option(help="Days until it expires")] = None,
) -> None:
    """Make an API key and print its token, shown this once.

    [bold]Examples[/]
      acc keys create ci-bot -s runs:read -s runs:write --expires-in-days 90
      acc keys create release-manager -s runs:approve -g releases
    """
    body = {
        "name": name,
        "scopes": scope,
        "groups": group or [],
        "expires_in_days": expires_in_days,
    }
    try:
        with ApiClient.of(settings()) as api:
            made = api.request("POST", "/v1/keys", json=body)
    except CliError as exc:
        raise fail(str(exc)) from None
    console.print(
        f"Key [bold]{made['key']['id']}[/] ({escape(name)}) made. Its token, shown only now:"
    )
    console.print(made["token"], markup=False, highlight=False)


@app.command("list")
def list_keys() -> None:
    """List your tenant's keys (never their secrets)."""
    try:
        with ApiClient.of(settings()) as api:
            keys = api.request("GET", "/v1/keys")
    except CliError as exc:
        raise fail(str(exc)) from None
    table = Table("id", "name", "scopes", "groups", "created", "expires", "revoked")
    for key in keys:
        table.add_row(
            key["id"],
            escape(key["name"]),
            " ".join(key["scopes"]),
            escape(" ".join(key["groups"])),
            (key["created_at"] or "")[:19],
            (key["expires_at"] or "")[:19],
            (key["revoked_at"] or "")[:19],
        )
    console.print(table)


@app.command()
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (acc keys list)")]) -> None:
    """Revoke a key: every API process refuses it within seconds."""
    try:
        with ApiClient.of(settings()) as api:
            api.request("DELETE", f"/v1/keys/{key_id}")
    except CliError as exc:
        raise fail(str(exc)) from None
    console.print(f"Key {escape(key_id)} revoked.")


@app.command()
def bootstrap(
    name: Annotated[str, typer.Argument(help="Who will use the key")] = "admin",
    tenant: Annotated[str | None, typer.Option(help="Its tenant (default: ACC_TENANT)")] = None,
    expires_in_days: Annotated[float, typer.Option(help="Days until it expires")] = 30,
) -> None:
    """Make the first admin key of a deployment straight in its database (no API key is
    needed, the database credentials are), and print its token, shown this once. On
    Kubernetes: kubectl exec deploy/acc-api -- acc keys bootstrap ops-admin"""
    asyncio.run(_bootstrap(name, tenant, expires_in_days))


async def _bootstrap(name: str, tenant: str | None, expires_in_days: float) -> None:
    current = settings(discover=False)
    engine = db.create_engine(current)
    try:
        await db.migrate(engine, current.DATABASE_SCHEMA)
        _, token = await ApiKeys(engine).create(
            name,
            tenant or current.TENANT,
            ["admin"],
            expires_in=timedelta(days=expires_in_days),
        )
    except Exception as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise fail(f"could not make the key in {where}: {exc}") from None
    finally:
        await engine.dispose()
    console.print(f"Admin key for tenant {escape(tenant or current.TENANT)}, shown only now:")
    console.print(token, markup=False, highlight=False)
