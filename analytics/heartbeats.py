"""Aggregators report in SQL that they are alive: `acc up`'s readiness probe and the API
(whether the runs projection is current) read it."""

from __future__ import annotations

import time
import weakref
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.fold import utc
from analytics.sink import table_of
from analytics.tables import AggregatorHeartbeat


def _now() -> datetime:
    return datetime.now(UTC)


async def beat(engine: AsyncEngine, member: str, partitions: list[int], events: int) -> None:
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    values = {
        "member": member,
        "updated_at": _now(),
        "partitions": ",".join(map(str, partitions)),
        "events": events,
    }
    statement = insert(AggregatorHeartbeat).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=["member"],
        set_={k: statement.excluded[k] for k in ("updated_at", "partitions", "events")},
    )
    async with engine.begin() as conn:
        await conn.execute(statement)


async def latest(engine: AsyncEngine) -> datetime | None:
    """When an aggregator last reported, or None."""
    table = table_of(AggregatorHeartbeat)
    async with engine.connect() as conn:
        value = await conn.scalar(select(func.max(table.c.updated_at)))
    return utc(value) if isinstance(value, datetime) else None


# A live answer is reused for a second (each engine's last one), so a busy list endpoint
# does not ask SQL on every request; it only stretches "stale" by that second.
REUSE_SECONDS = 1.0
_seen: weakref.WeakKeyDictionary[AsyncEngine, tuple[float, datetime]] = weakref.WeakKeyDictionary()


async def alive(engine: AsyncEngine, within_seconds: float) -> bool:
    window = timedelta(seconds=within_seconds)
    seen = _seen.get(engine)
    if (
        seen is not None
        and time.monotonic() - seen[0] < REUSE_SECONDS
        and _now() - seen[1] <= window
    ):
        return True
    last = await latest(engine)
    if last is None or _now() - last > window:
        return False
    _seen[engine] = (time.monotonic(), last)
    return True
