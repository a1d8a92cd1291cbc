"""Alerts: rules a tenant sets on its metrics, checked by the aggregator every
`CHECK_SECONDS`, with deduplication, history, acknowledgement and webhook notifications.

A rule is one of:
- `threshold`: the metric summed (counts) or averaged (ratios) over the last
  `window_minutes`, compared with `op` and `threshold` (a windowed aggregate);
- `anomaly`: the metric's last complete minute is an anomaly by the rolling robust
  z-score (`analytics/anomaly.py`) against the minutes before it;
- `absence`: no event at all (of the pattern or agent, when given) in the last
  `window_minutes`: the tenant's work stopped.

Deduplication: while a rule's alert is open (firing or acknowledged), the condition
holding again updates that alert (`last_seen_at`, `occurrences`) and notifies nobody; when
the condition clears, the alert is resolved (and its channel told); the next breach opens
a new alert. Channels: a generic webhook (the alert as JSON) or a Slack-compatible one
(`{"text": ...}`), posted with a 5 s timeout and the outcome kept on the alert.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, HttpUrl
from sqlalchemy import Column, Text, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from analytics import queries, ranges
from analytics.fold import minute_of
from analytics.sink import table_of
from core.jsontypes import Integer

log = logging.getLogger(__name__)

CHECK_SECONDS = 15.0
RuleKind = Literal["threshold", "anomaly", "absence"]
Op = Literal[">", ">=", "<", "<="]
ChannelKind = Literal["webhook", "slack"]
OPS = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}
RATIOS = {"completion_rate", "step_success_rate", "quality", "step_ms_avg", "run_ms_avg"}


class RuleSpec(BaseModel):
    """What a caller sends to make a rule."""

    model_config = ConfigDict(strict=True)

    name: str = Field(min_length=1, max_length=200)
    kind: RuleKind = "threshold"
    metric: queries.Metric = "runs_failed"
    op: Op = ">"
    threshold: float = 0
    window_minutes: Integer = Field(5, ge=1, le=1440)
    pattern: str | None = Field(None, max_length=40)
    agent: str | None = Field(None, max_length=200)
    channel: ChannelKind = "webhook"
    url: HttpUrl = Field(description="Where notifications are posted")


class AlertRule(SQLModel, table=True):
    __tablename__ = "alert_rules"

    id: str = SqlField(primary_key=True, max_length=32)
    tenant: str = SqlField(index=True, max_length=200)
    name: str = SqlField(max_length=200)
    kind: str = SqlField(max_length=20)
    metric: str = SqlField(max_length=40)
    op: str = SqlField(max_length=2)
    threshold: float
    window_minutes: int
    pattern: str | None = SqlField(default=None, max_length=40)
    agent: str | None = SqlField(default=None, max_length=200)
    channel: str = SqlField(max_length=20)
    url: str = SqlField(sa_column=Column(Text, nullable=False))
    created_at: datetime


class Alert(SQLModel, table=True):
    __tablename__ = "alerts"

    id: str = SqlField(primary_key=True, max_length=32)
    tenant: str = SqlField(index=True, max_length=200)
    rule_id: str = SqlField(index=True, max_length=32)
    rule_name: str = SqlField(max_length=200)
    status: str = SqlField(max_length=20)  # firing, acknowledged, resolved
    value: float | None = None
    message: str = SqlField(sa_column=Column(Text, nullable=False))
    opened_at: datetime
    last_seen_at: datetime
    occurrences: int = 1
    resolved_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = SqlField(default=None, max_length=200)
    notified: str = SqlField(default="", sa_column=Column(Text, nullable=False))


def new_rule(tenant: str, spec: RuleSpec) -> AlertRule:
    return AlertRule(
        id=uuid.uuid4().hex,
        tenant=tenant,
        created_at=datetime.now(UTC),
        **spec.model_dump(mode="json"),
    )


class Breach(BaseModel):
    breached: bool
    value: float | None
    message: str


async def check(engine: AsyncEngine, rule: AlertRule, now: datetime) -> Breach:
    """Whether the rule's condition holds now."""
    end = minute_of(now)  # the minute in progress is not complete yet
    if rule.kind == "absence":  # the minute in progress counts: an event is an event
        rng = ranges.TimeRange(
            end - timedelta(minutes=rule.window_minutes - 1),
            end + timedelta(minutes=1),
            timedelta(minutes=rule.window_minutes),
        )
        series = await queries.timeseries(
            engine, rule.tenant, "events", rng, rule.pattern, rule.agent
        )
        seen = sum(p.value or 0 for p in series.points)
        return Breach(
            breached=seen == 0,
            value=seen,
            message=f"no events in the last {rule.window_minutes} min",
        )
    metric: queries.Metric = rule.metric  # type: ignore[assignment]
    if rule.kind == "anomaly":
        rng = ranges.TimeRange(end - timedelta(minutes=61), end, timedelta(minutes=1))
        found = await queries.anomalies(
            engine, rule.tenant, metric, rng, pattern=rule.pattern, agent=rule.agent
        )
        last = found.points[-1] if found.points else None
        return Breach(
            breached=bool(last and last.anomaly),
            value=last.value if last else None,
            message=f"{rule.metric} is anomalous: {last.value if last else None} against a "
            f"baseline of {last.baseline if last else None}",
        )
    rng = ranges.TimeRange(
        end - timedelta(minutes=rule.window_minutes), end, timedelta(minutes=rule.window_minutes)
    )
    series = await queries.timeseries(engine, rule.tenant, metric, rng, rule.pattern, rule.agent)
    value = series.points[0].value if series.points else None
    breached = value is not None and OPS[rule.op](value, rule.threshold)
    return Breach(
        breached=breached,
        value=value,
        message=f"{rule.metric} over the last {rule.window_minutes} min is {value} "
        f"({rule.op} {rule.threshold})",
    )


def payload(rule: AlertRule, alert: Alert, event: str) -> dict[str, Any]:
    """What a channel receives; `event` is firing, resolved or test."""
    body = {
        "event": event,
        "alert": alert.model_dump(mode="json", exclude={"notified"}),
        "rule": rule.model_dump(mode="json", exclude={"url"}),
    }
    if rule.channel == "slack":
        icon = {"firing": ":rotating_light:", "resolved": ":white_check_mark:"}.get(event, "")
        return {"text": f"{icon} [{event}] {rule.name}: {alert.message}".strip()}
    return body


async def notify(http: httpx.AsyncClient, rule: AlertRule, alert: Alert, event: str) -> str:
    """Post to the rule's channel; returns what happened, kept on the alert."""
    try:
        response = await http.post(rule.url, json=payload(rule, alert, event), timeout=5)
        outcome = f"{event}: HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        outcome = f"{event}: failed ({type(exc).__name__})"
        log.warning("alert %s: notification failed: %r", alert.id, exc)
    return outcome


async def evaluate(engine: AsyncEngine, http: httpx.AsyncClient, now: datetime) -> int:
    """Check every rule once; returns how many alerts were opened."""
    rules_table, alerts_table = table_of(AlertRule), table_of(Alert)
    async with engine.connect() as conn:
        rules = [
            AlertRule.model_validate(dict(r))
            for r in (await conn.execute(select(rules_table))).mappings()
        ]
        open_rows = await conn.execute(
            select(alerts_table).where(alerts_table.c.status != "resolved")
        )
        open_alerts = {
            row["rule_id"]: Alert.model_validate(dict(row)) for row in open_rows.mappings()
        }
    opened = 0
    for rule in rules:
        breach = await check(engine, rule, now)
        current = open_alerts.get(rule.id)
        if breach.breached and current is None:
            alert = Alert(
                id=uuid.uuid4().hex,
                tenant=rule.tenant,
                rule_id=rule.id,
                rule_name=rule.name,
                status="firing",
                value=breach.value,
                message=breach.message,
                opened_at=now,
                last_seen_at=now,
            )
            alert.notified = await notify(http, rule, alert, "firing")
            async with engine.begin() as conn:
                await conn.execute(alerts_table.insert().values(alert.model_dump()))
            opened += 1
        elif breach.breached and current is not None:  # the same alert: no new notification
            async with engine.begin() as conn:
                await conn.execute(
                    update(alerts_table)
                    .where(alerts_table.c.id == current.id)
                    .values(
                        last_seen_at=now,
                        occurrences=alerts_table.c.occurrences + 1,
                        value=breach.value,
                    )
                )
        elif current is not None:
            current.status, current.resolved_at = "resolved", now
            outcome = await notify(http, rule, current, "resolved")
            async with engine.begin() as conn:
                await conn.execute(
                    update(alerts_table)
                    .where(alerts_table.c.id == current.id)
                    .values(
                        status="resolved",
                        resolved_at=now,
                        notified=f"{current.notified}; {outcome}",
                    )
                )
    return opened
