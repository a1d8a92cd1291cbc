"""What the retention job removes from SQL: every row about runs, events and alerts from
before a cutoff (ACC_RETENTION_DAYS ago). Each table is cleared in its own transaction, by
the column that says how old a row is. An hourly or daily rollup goes once its whole hour
or day is before the cutoff (the minutes after the cutoff it sums are still kept).

Artifacts are content-addressed and shared: storing the same content again refreshes its
`created_at` (core/artifacts.py), so an artifact a recent run still uses is never old.
API keys, the audit log and code reviews are not run history and are kept.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from analytics.alerts import Alert
from analytics.tables import (
    DailyDurationBucket,
    DailyRollup,
    DurationBucket,
    HourlyDurationBucket,
    HourlyRollup,
    ProcessedEvent,
    Rollup,
    RunRecord,
)
from core.artifacts import Artifact
from core.receipts import Receipt


def _expired(cutoff: datetime) -> list[tuple[str, type, ColumnElement[bool]]]:
    last_hour, last_day = cutoff - timedelta(hours=1), cutoff - timedelta(days=1)
    return [
        ("artifacts", Artifact, col(Artifact.created_at) < cutoff),
        ("receipts", Receipt, col(Receipt.created_at) < cutoff),
        ("processed_events", ProcessedEvent, col(ProcessedEvent.time) < cutoff),
        ("metric_rollups", Rollup, col(Rollup.minute) < cutoff),
        ("metric_duration_buckets", DurationBucket, col(DurationBucket.minute) < cutoff),
        ("metric_rollups_hourly", HourlyRollup, col(HourlyRollup.hour) <= last_hour),
        ("metric_rollups_daily", DailyRollup, col(DailyRollup.day) <= last_day),
        (
            "metric_duration_buckets_hourly",
            HourlyDurationBucket,
            col(HourlyDurationBucket.hour) <= last_hour,
        ),
        (
            "metric_duration_buckets_daily",
            DailyDurationBucket,
            col(DailyDurationBucket.day) <= last_day,
        ),
        # The runs projection keeps runs in progress whatever their age (a run may wait
        # for an approval for weeks): only closed runs expire, as in Temporal.
        ("run_records", RunRecord, col(RunRecord.ended_at) < cutoff),
        ("alerts", Alert, col(Alert.last_seen_at) < cutoff),
    ]


async def purge(engine: AsyncEngine, cutoff: datetime) -> dict[str, int]:
    """Delete the rows from before `cutoff`; how many, by table."""
    removed: dict[str, int] = {}
    for table, model, expired in _expired(cutoff):
        async with engine.begin() as conn:
            result = await conn.execute(delete(model).where(expired))
        removed[table] = max(result.rowcount, 0)
    return removed
