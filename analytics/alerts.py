"""Alert rules a tenant sets on its metrics, the alerts they raise, and each rule's
condition (`check`). One round of checking, with deduplication, escalation and
resolution, is `analytics/alerting.py`; the channels are `analytics/channels.py`.

A rule is one of:
- `threshold`: the metric over the last `window_minutes` (counts summed, ratios and
  percentiles over the window's sums and histogram), compared with `op` and `threshold`
  (a windowed aggregate);
- `anomaly`: the metric's last complete minute is an anomaly by the rolling robust
  z-score (`analytics/anomaly.py`) against the minutes before it;
- `absence`: no event at all (of the pattern or agent, when given) in the last
  `window_minutes`: the tenant's work stopped;
- `regression`: the metric over the last `window_minutes` against the same metric over
  the `baseline_minutes` before it (`baseline_lag_minutes` earlier still, e.g. 1440 for
  the same hours yesterday): the relative change `(current - baseline) / |baseline|`
  compared with `op` and `threshold` (`> 0.25`: 25% worse for a duration or a cost,
  `< -0.1`: 10% lower for quality).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Column, Text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from analytics import compare, queries, ranges
from analytics.channels import Channel, ChannelKind, Message, check_target
from analytics.fold import minute_of
from core.jsontypes import Integer

RuleKind = Literal["threshold", "anomaly", "absence", "regression"]
Op = Literal[">", ">=", "<", "<="]
OPS = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


class EscalationStep(BaseModel):
    """Who else is told when an alert is still firing, unacknowledged, this long after it
    opened."""

    after_seconds: int = Field(ge=1, le=7 * 86400)
    notify: list[Channel] = Field(min_length=1, max_length=5)


class RuleSpec(BaseModel):
    """What a caller sends to make a rule."""

    model_config = ConfigDict(strict=True)

    name: str = Field(min_length=1, max_length=200)
    kind: RuleKind = "threshold"
    metric: queries.Metric = "runs_failed"
    op: Op = ">"
    threshold: float = Field(0, description="A value; for regression, a relative change")
    window_minutes: Integer = Field(5, ge=1, le=1440)
    baseline_minutes: Integer = Field(
        60, ge=1, le=43200, description="Regression: the baseline window's length"
    )
    baseline_lag_minutes: Integer = Field(
        0, ge=0, le=43200, description="Regression: the gap between baseline and window"
    )
    pattern: str | None = Field(None, max_length=40)
    agent: str | None = Field(None, max_length=200)
    channel: ChannelKind = "webhook"
    url: str = Field(
        min_length=1,
        max_length=2000,
        description="Where notifications go: an http(s) URL for webhook and slack, a "
        "mailto: URI for email (mailto:a@example.com,b@example.com)",
    )
    escalation: list[EscalationStep] = Field(
        default_factory=list,
        max_length=5,
        description="Channels told in turn while the alert stays firing unacknowledged",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RuleSpec:
        check_target(self.channel, self.url)
        delays = [step.after_seconds for step in self.escalation]
        if delays != sorted(set(delays)):
            raise ValueError("escalation: after_seconds must increase from step to step")
        return self


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
    baseline_minutes: int = 60
    baseline_lag_minutes: int = 0
    pattern: str | None = SqlField(default=None, max_length=40)
    agent: str | None = SqlField(default=None, max_length=200)
    channel: str = SqlField(max_length=20)
    url: str = SqlField(sa_column=Column(Text, nullable=False))
    escalation: str = SqlField(default="[]", sa_column=Column(Text, nullable=False))  # JSON
    created_at: datetime

    def steps(self) -> list[EscalationStep]:
        return [EscalationStep.model_validate(s) for s in json.loads(self.escalation or "[]")]

    def primary(self) -> Channel:
        return Channel(channel=self.channel, url=self.url)


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
    escalation_level: int = 0  # escalation steps already notified
    notified: str = SqlField(default="", sa_column=Column(Text, nullable=False))


def new_rule(tenant: str, spec: RuleSpec) -> AlertRule:
    return AlertRule(
        id=uuid.uuid4().hex,
        tenant=tenant,
        created_at=datetime.now(UTC),
        **spec.model_dump(mode="json", exclude={"escalation"}),
        escalation=json.dumps([s.model_dump(mode="json") for s in spec.escalation]),
    )


def message_of(rule: AlertRule, alert: Alert, event: str) -> Message:
    """What a channel receives; `event` is firing, escalated, resolved or test."""
    fields = {"rule": rule.kind, "metric": rule.metric, "status": alert.status}
    if alert.value is not None:
        fields["value"] = f"{alert.value:g}"
    fields["opened"] = f"{alert.opened_at:%Y-%m-%d %H:%M:%S} UTC"
    if alert.occurrences > 1:
        fields["seen"] = f"{alert.occurrences} checks"
    return Message(
        event=event,
        rule_name=rule.name,
        text=alert.message,
        fields=fields,
        body={
            "event": event,
            "alert": alert.model_dump(mode="json", exclude={"notified"}),
            "rule": rule.model_dump(mode="json", exclude={"url", "escalation"}),
        },
    )


class Breach(BaseModel):
    breached: bool
    value: float | None
    message: str


async def check(engine: AsyncEngine, rule: AlertRule, now: datetime) -> Breach:
    """Whether the rule's condition holds now."""
    end = minute_of(now)  # the minute in progress is not complete yet
    window = timedelta(minutes=rule.window_minutes)
    metric: queries.Metric = rule.metric  # type: ignore[assignment]
    if rule.kind == "absence":  # the minute in progress counts: an event is an event
        rng = compare.whole(end + timedelta(minutes=1) - window, end + timedelta(minutes=1))
        seen = await compare.value_over(
            engine, rule.tenant, "events", rng, rule.pattern, rule.agent
        )
        return Breach(
            breached=not seen,
            value=seen or 0,
            message=f"no events in the last {rule.window_minutes} min",
        )
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
    if rule.kind == "regression":
        baseline_end = end - window - timedelta(minutes=rule.baseline_lag_minutes)
        baseline = compare.whole(
            baseline_end - timedelta(minutes=rule.baseline_minutes), baseline_end
        )
        compared = await compare.regression(
            engine, rule.tenant, metric, compare.whole(end - window, end), baseline,
            rule.pattern, rule.agent,
        )  # fmt: skip
        change = compared.change
        return Breach(
            breached=change is not None and OPS[rule.op](change, rule.threshold),
            value=compared.current,
            message=f"{rule.metric} over the last {rule.window_minutes} min is "
            f"{_num(compared.current)} against {_num(compared.baseline)} over the baseline "
            f"({'unknown' if change is None else f'{change:+.1%}'}; {rule.op} "
            f"{rule.threshold:+.1%})",
        )
    value = await compare.value_over(
        engine, rule.tenant, metric, compare.whole(end - window, end), rule.pattern, rule.agent
    )
    return Breach(
        breached=value is not None and OPS[rule.op](value, rule.threshold),
        value=value,
        message=f"{rule.metric} over the last {rule.window_minutes} min is {_num(value)} "
        f"({rule.op} {rule.threshold:g})",
    )


def _num(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.4g}"
