"""`/v1/alerts`: the caller's tenant's alert rules (admins make and delete them: a rule
makes acc post to a URL), its alert history, acknowledgement, and a test notification
(docs/ANALYTICS.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel
from sqlalchemy import delete, select, update

from analytics import alerts
from analytics.channels import Channel, Notifier, shown
from analytics.sink import table_of
from api.deps import EngineDep, SettingsDep
from api.errors import documented
from api.security import Admin, Reader, Writer
from core.errors import Conflict, NotFound

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


class ChannelView(BaseModel):
    channel: str
    destination: str  # a webhook by scheme and host (its path often holds its secret)


class StepView(BaseModel):
    after_seconds: int
    notify: list[ChannelView]


def _view(channel: Channel) -> ChannelView:
    return ChannelView(channel=channel.channel, destination=shown(channel.channel, channel.url))


class RuleView(BaseModel):
    id: str
    name: str
    kind: str
    metric: str
    op: str
    threshold: float
    window_minutes: int
    baseline_minutes: int
    baseline_lag_minutes: int
    pattern: str | None
    agent: str | None
    channel: str
    destination: str  # a webhook by scheme and host (its path often holds its secret)
    escalation: list[StepView]
    created_at: datetime

    @classmethod
    def of(cls, rule: alerts.AlertRule) -> RuleView:
        return cls(
            **rule.model_dump(exclude={"url", "tenant", "escalation"}),
            destination=shown(rule.channel, rule.url),
            escalation=[
                StepView(after_seconds=s.after_seconds, notify=[_view(c) for c in s.notify])
                for s in rule.steps()
            ],
        )


class TestResult(BaseModel):
    outcome: str


async def _rule(engine: EngineDep, tenant: str, rule_id: str) -> alerts.AlertRule:
    table = table_of(alerts.AlertRule)
    async with engine.connect() as conn:
        row = (
            (
                await conn.execute(
                    select(table).where(table.c.id == rule_id, table.c.tenant == tenant)
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"no alert rule {rule_id}")
    return alerts.AlertRule.model_validate(dict(row))


@router.get("/rules", operation_id="alerts-rules")
async def list_rules(caller: Reader, engine: EngineDep) -> list[RuleView]:
    """The tenant's alert rules (webhook URLs shown by host only)."""
    table = table_of(alerts.AlertRule)
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(table).where(table.c.tenant == caller.tenant).order_by(table.c.created_at)
        )
        return [RuleView.of(alerts.AlertRule.model_validate(dict(r))) for r in rows.mappings()]


@router.post("/rules", status_code=status.HTTP_201_CREATED, operation_id="alerts-rules-create")
async def create_rule(caller: Admin, engine: EngineDep, spec: alerts.RuleSpec) -> RuleView:
    """Make a rule: `threshold` (the metric over the window, summed or averaged, against
    `op threshold`), `anomaly` (the last minute is an anomaly), `absence` (no events in
    the window) or `regression` (the relative change of the metric over the window against
    the baseline window before it, against `op threshold`). Notifications go to `url` as
    JSON (`webhook`), as Slack's `text` and `blocks` (`slack`) or by email (`email`, a
    `mailto:` URI); `escalation` lists the channels told, step by step, while the alert
    stays firing unacknowledged."""
    rule = alerts.new_rule(caller.tenant, spec)
    async with engine.begin() as conn:
        await conn.execute(table_of(alerts.AlertRule).insert().values(rule.model_dump()))
    return RuleView.of(rule)


@router.delete(
    "/rules/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="alerts-rules-delete",
    responses=documented(404),
)
async def delete_rule(caller: Admin, engine: EngineDep, rule_id: str) -> None:
    """Delete a rule (its alerts stay in the history)."""
    await _rule(engine, caller.tenant, rule_id)
    async with engine.begin() as conn:
        await conn.execute(
            delete(table_of(alerts.AlertRule)).where(table_of(alerts.AlertRule).c.id == rule_id)
        )


@router.post("/rules/{rule_id}/test", operation_id="alerts-rules-test", responses=documented(404))
async def test_rule(
    caller: Writer, engine: EngineDep, settings: SettingsDep, rule_id: str, request: Request
) -> TestResult:
    """Send a test notification now to the rule's channel and to every channel of its
    escalation policy, and say how each went."""
    rule = await _rule(engine, caller.tenant, rule_id)
    now = datetime.now(UTC)
    alert = alerts.Alert(
        id="test",
        tenant=rule.tenant,
        rule_id=rule.id,
        rule_name=rule.name,
        status="test",
        message=f"test alert for {rule.name}, sent by {caller.subject}",
        opened_at=now,
        last_seen_at=now,
    )
    notifier = Notifier(request.app.state.http, settings)
    message = alerts.message_of(rule, alert, "test")
    channels = [rule.primary(), *(c for step in rule.steps() for c in step.notify)]
    return TestResult(outcome="; ".join([await notifier.send(c, message) for c in channels]))


@router.get("", operation_id="alerts-list")
async def list_alerts(
    caller: Reader,
    engine: EngineDep,
    status_: Annotated[
        Literal["firing", "acknowledged", "resolved"] | None, Query(alias="status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[alerts.Alert]:
    """The tenant's alerts, newest first: open ones and the history."""
    table = table_of(alerts.Alert)
    query = select(table).where(table.c.tenant == caller.tenant)
    if status_ is not None:
        query = query.where(table.c.status == status_)
    async with engine.connect() as conn:
        rows = await conn.execute(query.order_by(table.c.opened_at.desc()).limit(limit))
        return [alerts.Alert.model_validate(dict(r)) for r in rows.mappings()]


@router.post("/{alert_id}/ack", operation_id="alerts-ack", responses=documented(404, 409))
async def acknowledge(caller: Writer, engine: EngineDep, alert_id: str) -> alerts.Alert:
    """Acknowledge a firing alert: someone is on it (it stays open until the condition
    clears, notifies nobody again and escalates no further)."""
    table = table_of(alerts.Alert)
    async with engine.begin() as conn:
        row = (
            (
                await conn.execute(
                    select(table).where(table.c.id == alert_id, table.c.tenant == caller.tenant)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"no alert {alert_id}")
        if row["status"] != "firing":
            raise Conflict(f"alert {alert_id} is {row['status']}, not firing")
        await conn.execute(
            update(table)
            .where(table.c.id == alert_id)
            .values(
                status="acknowledged",
                acknowledged_at=datetime.now(UTC),
                acknowledged_by=caller.subject,
            )
        )
        row = (await conn.execute(select(table).where(table.c.id == alert_id))).mappings().one()
    return alerts.Alert.model_validate(dict(row))
