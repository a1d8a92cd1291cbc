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
      acc alerts create slower --kind regression --metric step_ms_p95 --threshold 0.25 \
        --channel slack --url https://hooks.slack.com/services/T/B/x \
        --escalate 600=email:mailto:oncall@example.com
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
            "regression": f"{rule['metric']} over {rule['window_minutes']} min vs the "
            f"{rule['baseline_minutes']} min before: change {rule['op']} "
            f"{rule['threshold']:+.0%}",
        }.get(rule["kind"], rule["kind"])
        steps = [
            f"after {step['after_seconds']}s: "
            + ", ".join(f"{c['channel']} {c['destination']}" for c in step["notify"])
            for step in rule.get("escalation", [])
        ]
        table.add_row(
            rule["id"],
            escape(rule["name"]),
            rule["kind"],
            escape(condition),
            escape("\n".join([f"{rule['channel']} {rule['destination']}", *steps])),
        )
    console.print(table)


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="What the rule watches")],
    url: Annotated[str, typer.Option(help="Webhook to post notifications to")],
    kind: Annotated[
        str, typer.Option(help="threshold, anomaly, absence or regression")
    ] = "threshold",
    metric: Annotated[
        str, typer.Option(help="e.g. runs_failed, completion_rate, step_ms_p95")
    ] = "runs_failed",
    op: Annotated[str, typer.Option(help=">, >=, < or <=")] = ">",
    threshold: Annotated[
        float, typer.Option(help="A value; for regression a relative change (0.25: +25%)")
    ] = 0,
    window_minutes: Annotated[int, typer.Option()] = 5,
    baseline_minutes: Annotated[int, typer.Option(help="Regression: the baseline's length")] = 60,
    baseline_lag_minutes: Annotated[
        int, typer.Option(help="Regression: minutes between the baseline and the window")
    ] = 0,
    pattern: Annotated[str | None, typer.Option()] = None,
    agent: Annotated[str | None, typer.Option()] = None,
    channel: Annotated[
        str, typer.Option(help="webhook, slack or email (--url mailto:a@example.com)")
    ] = "webhook",
    escalate: Annotated[
        list[str] | None,
        typer.Option(
            help="SECONDS=CHANNEL:TARGET, repeatable: told when still firing unacknowledged "
            "that long after opening (600=email:mailto:oncall@example.com)"
        ),
    ] = None,
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
        "baseline_minutes": baseline_minutes,
        "baseline_lag_minutes": baseline_lag_minutes,
        "escalation": _steps(escalate or []),
    }
    rule = _call("POST", "/v1/alerts/rules", json=body)
    console.print(f"Rule [bold]{rule['id']}[/] ({escape(name)}) made.")


def _steps(specs: list[str]) -> list[dict[str, Any]]:
    """`600=email:mailto:a@example.com` -> escalation steps (one channel a flag; flags of
    the same delay make one step)."""
    steps: dict[int, list[dict[str, str]]] = {}
    for spec in specs:
        delay, _, target = spec.partition("=")
        kind, _, url = target.partition(":")
        if not delay.isdigit() or kind not in ("webhook", "slack", "email") or not url:
            raise fail(
                f"--escalate {spec!r}: SECONDS=CHANNEL:TARGET, e.g. "
                "600=email:mailto:oncall@example.com or 900=webhook:https://example.com/page"
            )
        steps.setdefault(int(delay), []).append({"channel": kind, "url": url})
    return [{"after_seconds": d, "notify": steps[d]} for d in sorted(steps)]


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
