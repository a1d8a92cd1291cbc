"""One round of alerting, run by the aggregator every `CHECK_SECONDS`: every rule's
condition checked, alerts opened, deduplicated, escalated and resolved.

- **Deduplication.** While a rule's alert is open (`firing` or `acknowledged`), the
  condition holding again updates that alert (`last_seen_at`, `occurrences`, `value`)
  and notifies nobody; when the condition clears, the alert is `resolved`; the next
  breach opens a new alert.
- **Escalation.** A rule's escalation policy is a list of steps, each a delay and the
  channels to tell. An alert still `firing` (nobody acknowledged it) `after_seconds`
  after it opened is sent, as `escalated`, to that step's channels, once per step
  (`escalation_level` counts the steps done); acknowledging stops it.
- **Resolution** is told to every channel that heard of the alert: the rule's own and
  those of the steps it escalated to.

Every outcome (`firing: HTTP 200`, `escalated: email sent to 1`) is appended to the
alert's `notified`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.alerts import Alert, AlertRule, check, message_of
from analytics.channels import Channel, Sender
from analytics.fold import utc
from analytics.sink import table_of

CHECK_SECONDS = 15.0


async def _send(
    sender: Sender, channels: list[Channel], rule: AlertRule, alert: Alert, event: str
) -> str:
    message = message_of(rule, alert, event)
    return "; ".join([await sender.send(channel, message) for channel in channels])


def _told(rule: AlertRule, level: int) -> list[Channel]:
    """The channels an alert at this escalation level has reached."""
    return [rule.primary(), *(c for step in rule.steps()[:level] for c in step.notify)]


async def _save(engine: AsyncEngine, alert_id: str, **values: object) -> None:
    table = table_of(Alert)
    async with engine.begin() as conn:
        await conn.execute(update(table).where(table.c.id == alert_id).values(**values))


async def _escalate(
    engine: AsyncEngine, sender: Sender, rule: AlertRule, alert: Alert, now: datetime
) -> None:
    """Tell the channels of every escalation step that came due since the last round."""
    steps = rule.steps()
    level = alert.escalation_level
    if alert.status != "firing" or level >= len(steps):
        return
    table = table_of(Alert)
    async with engine.connect() as conn:  # acknowledged since this round read it?
        status = (await conn.execute(select(table.c.status).where(table.c.id == alert.id))).scalar()
    if status != "firing":
        return
    outcomes = []
    while level < len(steps) and utc(alert.opened_at) + timedelta(
        seconds=steps[level].after_seconds
    ) <= utc(now):
        alert.escalation_level = level + 1
        outcomes.append(await _send(sender, steps[level].notify, rule, alert, "escalated"))
        level += 1
    if outcomes:
        alert.notified = "; ".join([alert.notified, *outcomes])
        await _save(engine, alert.id, escalation_level=level, notified=alert.notified)


async def evaluate(engine: AsyncEngine, sender: Sender, now: datetime) -> int:
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
            alert.notified = await _send(sender, [rule.primary()], rule, alert, "firing")
            async with engine.begin() as conn:
                await conn.execute(alerts_table.insert().values(alert.model_dump()))
            opened += 1
        elif breach.breached and current is not None:  # the same alert: no new notification
            current.occurrences += 1
            current.value, current.last_seen_at = breach.value, now
            await _save(
                engine,
                current.id,
                last_seen_at=now,
                occurrences=alerts_table.c.occurrences + 1,
                value=breach.value,
            )
            await _escalate(engine, sender, rule, current, now)
        elif current is not None:
            current.status, current.resolved_at = "resolved", now
            channels = _told(rule, current.escalation_level)
            outcome = await _send(sender, channels, rule, current, "resolved")
            await _save(
                engine,
                current.id,
                status="resolved",
                resolved_at=now,
                notified=f"{current.notified}; {outcome}",
            )
    return opened
