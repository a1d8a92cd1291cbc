"""`acc alerts`: the tenant's alerts and alert rules, through the API."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cli.output import console, fail, settings
from cli.runs import ApiClient, CliError

app = typer.Typer(help="Alerts: the history, rules, acknowledgement, a test alert.")
COLORS = {"firing": "red", "acknowledged": "yellow", "resolved": "green"}


def _call(method: str, path: str, **kwargs: Any) -> Any:
    try:
        with ApiClient.of(settings()) as api:
            return api.request(method, path, **kwargs)
    except CliError as exc:
        raise fail(str(exc)) from None


@app.callback(invoke_without_command=True)
def history(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="firing, acknowledged or resolved")] = None,
) -> None:
    """List alerts, newest first (open ones and the history).

    [bold]Examples[/]
      acc alerts --status firing
      acc alerts ack 3f2a...
      acc alerts rules
      acc alerts create failures --metric runs_failed --op '>' --threshold 3 --url https://hooks.example.com/x
      acc alerts test <rule-id>
    """
    if ctx.invoked_subcommand is not None:
        return
    params = {"status": status} if status else {}
    table = Table("id", "rule", "status", "value", "opened", "seen", "message")
    for alert in _call("GET", "/v1/alerts", params=params):
        color = COLORS.get(alert["status"], "white")
        table.add_row(
            alert["id"][:12],
            escape(alert["rule_name"]),
            f"[{color}]{alert['status']}[/]",
            "" if alert["value"] is None else f"{alert['value']:g}",
            alert["opened_at"][:19],
            f"{alert['occurrences']}x, last {alert['last_seen_at'][11:19]}",
            escape(alert["message"]),
        )
    console.print(table)


@app.command()
def rules() -> None:
    """List the alert rules."""
    table = Table("id", "name", "kind", "condition", "channel")
    for rule in _call("GET", "/v1/alerts/rules"):
        condition = {
            "threshold": f"{rule['metric']} {rule['op']} {rule['threshold']:g} "
            f"over {rule['window_minutes']} min",
            "anomaly": f"{rule['metric']} anomalous",
            "absence": f"no events for {rule['window_minutes']} min",
        }.get(rule["kind"], rule["kind"])
        table.add_row(
            rule["id"],
            escape(rule["name"]),
            rule["kind"],
            escape(condition),
            f"{rule['channel']} {escape(rule['destination'])}",
        )
    console.print(table)


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="What the rule watches")],
    url: Annotated[str, typer.Option(help="Webhook to post notifications to")],
    kind: Annotated[str, typer.Option(help="threshold, anomaly or absence")] = "threshold",
    metric: Annotated[str, typer.Option(help="e.g. runs_failed, completion_rate")] = "runs_failed",
    op: Annotated[str, typer.Option(help=">, >=, < or <=")] = ">",
    threshold: Annotated[float, typer.Option()] = 0,
    window_minutes: Annotated[int, typer.Option()] = 5,
    pattern: Annotated[str | None, typer.Option()] = None,
    agent: Annotated[str | None, typer.Option()] = None,
    channel: Annotated[str, typer.Option(help="webhook or slack")] = "webhook",
) -> None:
    """Make an alert rule (an admin key is needed)."""
    body = {
        "name": name,
        "url": url,
        "kind": kind,
        "metric": metric,
        "op": op,
        "threshold": threshold,
        "window_minutes": window_minutes,
        "pattern": pattern,
        "agent": agent,
        "channel": channel,
    }
    rule = _call("POST", "/v1/alerts/rules", json=body)
    console.print(f"Rule [bold]{rule['id']}[/] ({escape(name)}) made.")


@app.command()
def ack(alert_id: Annotated[str, typer.Argument(help="The alert's id (acc alerts)")]) -> None:
    """Acknowledge a firing alert."""
    alert = _call("POST", f"/v1/alerts/{alert_id}/ack")
    console.print(f"Alert {escape(alert['id'])} acknowledged.")


@app.command()
def test(rule_id: Annotated[str, typer.Argument(help="The rule's id (acc alerts rules)")]) -> None:
    """Send a test alert to a rule's channel."""
    result = _call("POST", f"/v1/alerts/rules/{rule_id}/test")
    console.print(f"Test alert sent: {escape(result['outcome'])}")


@app.command()
def delete(rule_id: Annotated[str, typer.Argument(help="The rule's id")]) -> None:
    """Delete a rule (its alerts stay in the history)."""
    _call("DELETE", f"/v1/alerts/rules/{rule_id}")
    console.print(f"Rule {escape(rule_id)} deleted.")
