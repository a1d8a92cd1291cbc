"""The rollups' grains (1 minute, 1 hour, 1 day) and which rows of which grain answer a
time range.

The hourly and daily rows are the minute rows summed (the sink writes all three in one
transaction), so a range can be read from any mix of grains that covers it exactly. A
coarse row counts only where it lies wholly inside one step of the range: `plan` covers
each step with whole days, then whole hours, then minutes for the ragged edges, so a
30-day range with a 6-hour step reads a few thousand rows rather than every minute, and
a step of 15 minutes (or any step no hour fits in) reads minutes as before. Days and hours
are UTC.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import Table, delete, func, insert, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.fold import ROLLUP_SUMS, utc
from analytics.ranges import TimeRange
from analytics.tables import (
    DailyDurationBucket,
    DailyRollup,
    DurationBucket,
    HourlyDurationBucket,
    HourlyRollup,
    Rollup,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


@dataclass(frozen=True, eq=False)  # compared and hashed by identity
class Grain:
    name: str
    size: timedelta
    column: str  # the time column: when the row's period starts
    rollups: Table
    buckets: Table

    def floor(self, moment: datetime) -> datetime:
        return moment - (utc(moment) - EPOCH) % self.size

    def ceil(self, moment: datetime) -> datetime:
        down = self.floor(moment)
        return down if down == moment else down + self.size


MINUTE = Grain("minute", timedelta(minutes=1), "minute", _table(Rollup), _table(DurationBucket))
HOUR = Grain("hour", timedelta(hours=1), "hour", _table(HourlyRollup), _table(HourlyDurationBucket))
DAY = Grain("day", timedelta(days=1), "day", _table(DailyRollup), _table(DailyDurationBucket))
GRAINS = (DAY, HOUR, MINUTE)  # coarsest first
COARSE = (HOUR, DAY)  # what the sink derives from the minutes

Interval = tuple[datetime, datetime]


def plan(rng: TimeRange) -> dict[Grain, list[Interval]]:
    """The intervals to read from each grain: together they cover the range once, and no
    coarse row read crosses a step boundary (adjacent intervals merged)."""
    if rng.end <= rng.start:
        return {}
    count = math.ceil((rng.end - rng.start) / rng.step)
    cuts = [rng.start + i * rng.step for i in range(count)] + [rng.end]
    pieces: dict[Grain, list[Interval]] = defaultdict(list)
    for a, b in pairwise(cuts):
        _cover(a, min(b, rng.end), 0, pieces)
    merged: dict[Grain, list[Interval]] = {}
    for grain in GRAINS:
        out: list[Interval] = []
        for lo, hi in sorted(pieces.get(grain, [])):
            if out and out[-1][1] == lo:
                out[-1] = (out[-1][0], hi)
            else:
                out.append((lo, hi))
        if out:
            merged[grain] = out
    return merged


def _cover(a: datetime, b: datetime, level: int, pieces: dict[Grain, list[Interval]]) -> None:
    if a >= b:
        return
    grain = GRAINS[level]
    if grain is MINUTE:
        pieces[MINUTE].append((a, b))
        return
    lo, hi = grain.ceil(a), grain.floor(b)
    if lo >= hi:
        _cover(a, b, level + 1, pieces)
        return
    _cover(a, lo, level + 1, pieces)
    pieces[grain].append((lo, hi))
    _cover(hi, b, level + 1, pieces)


def _truncated(conn: AsyncConnection, grain: Grain, column: Any) -> Any:
    """SQL for the start of the hour or day of a minute column."""
    if conn.dialect.name == "postgresql":
        return func.date_trunc(grain.name, column)
    shape = "%Y-%m-%d %H:00:00.000000" if grain is HOUR else "%Y-%m-%d 00:00:00.000000"
    return func.strftime(literal_column(f"'{shape}'"), column)


async def rebuild(conn: AsyncConnection, tenant: str) -> None:
    """Derive a tenant's hourly and daily rows from its minute rows again (for minute rows
    written straight to SQL, as the benchmark and some tests do; the sink keeps all the
    grains itself)."""
    for grain in COARSE:
        for source, target, keys, sums in (
            (MINUTE.rollups, grain.rollups, ("pattern", "agent"), ROLLUP_SUMS),
            (MINUTE.buckets, grain.buckets, ("pattern", "agent", "kind", "bucket"), ("count",)),
        ):
            await conn.execute(delete(target).where(target.c.tenant == tenant))
            period = _truncated(conn, grain, source.c.minute)
            query = (
                select(
                    source.c.tenant,
                    period.label(grain.column),
                    *(source.c[k] for k in keys),
                    *(func.sum(source.c[s]).label(s) for s in sums),
                )
                .where(source.c.tenant == tenant)
                .group_by(source.c.tenant, period, *(source.c[k] for k in keys))
            )
            columns = ["tenant", grain.column, *keys, *sums]
            await conn.execute(insert(target).from_select(columns, query))
