"""Reading the runs projection: the lists the API and the dashboard serve, always one
tenant's, newest first, from indexed columns."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.fold import RunState, utc
from analytics.sink import table_of
from analytics.tables import RunRecord

# What the projection can answer: a terminated or timed-out run publishes no event.
PROJECTED_STATUSES = {"running", "waiting", "completed", "failed", "cancelled"}


def aware(moment: datetime | None) -> datetime | None:
    return utc(moment) if moment is not None else None


async def list_runs(
    engine: AsyncEngine,
    tenant: str,
    status: str | None = None,
    pattern: str | None = None,
    limit: int = 100,
) -> list[RunState]:
    """Rows as plain `RunState`s (validating each into the SQLModel table class took about
    40 us a row, 2 ms for a page of 50)."""
    table = table_of(RunRecord)
    query = select(table).where(table.c.tenant == tenant)
    if status is not None:
        query = query.where(table.c.status == status)
    if pattern is not None:
        query = query.where(table.c.pattern == pattern)
    query = query.order_by(table.c.started_at.desc(), table.c.run_id).limit(limit)
    async with engine.connect() as conn:
        rows = await conn.execute(query)
        records = [RunState(**row) for row in rows.mappings()]
    for record in records:
        record.started_at, record.ended_at = aware(record.started_at), aware(record.ended_at)
    return records
