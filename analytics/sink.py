"""The SQL sink: a batch of events in one transaction, effectively once.

The batch's event ids go into `processed_events` in the same transaction as their effect
on the rollups and the runs projection; ids already there are skipped. So an event the
broker delivers again (a consumer that died before committing its offsets, a rebalance)
is never counted twice, and two aggregators racing on one event (during a rebalance)
collide on the primary key: one transaction fails, its batch is retried and finds the
event done. Rollup columns are added with an upsert (`x = x + excluded.x`), so two
aggregators writing the same minute never lose each other's counts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.fold import ROLLUP_SUMS, RUN_TYPES, fold, utc
from analytics.tables import DurationBucket, ProcessedEvent, Rollup, RunRecord
from core.events import Event

CHUNK = 200  # rows per statement: well under SQLite's bound-parameter limit
RETRIES = 3


def table_of(model: Any) -> Table:
    """The Core table of a SQLModel class (typed: SQLModel does not declare it)."""
    table: Table = model.__table__
    return table


RUN_COLUMNS = [c.name for c in table_of(RunRecord).columns]


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class Counted:
    event: Event
    pattern: str


class EventSink:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    async def apply(self, events: Sequence[Event]) -> list[Counted]:
        """Count the events not counted before; returns them (in the given order), each
        with its run's pattern as the projection knows it."""
        unique = list({event.id: event for event in events}.values())
        if not unique:
            return []
        for attempt in range(RETRIES):
            try:
                async with self._engine.begin() as conn:
                    return await self._apply(conn, unique)
            except IntegrityError:  # another aggregator counted some of them meanwhile
                if attempt == RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    async def _apply(self, conn: AsyncConnection, events: list[Event]) -> list[Counted]:
        done: set[str] = set()
        for chunk in _chunks([e.id for e in events]):
            column = table_of(ProcessedEvent).c.event_id
            rows = await conn.execute(select(column).where(column.in_(chunk)))
            done.update(rows.scalars())
        new = [e for e in events if e.id not in done]
        if not new:
            return []
        for chunk in _chunks(new):
            await conn.execute(
                self._insert(ProcessedEvent).values(
                    [{"event_id": e.id, "time": utc(e.time)} for e in chunk]
                )
            )
        about_runs = {(e.tenant, e.run_id) for e in new if e.type.startswith(RUN_TYPES)}
        folded = fold(new, await self._records(conn, about_runs))
        await self._upsert_runs(conn, [r.model_dump() for r in folded.runs.values()])
        rollups = [
            {"tenant": t, "minute": m, "pattern": p, "agent": a, **sums}
            for (t, m, p, a), sums in folded.rollups.items()
        ]
        await self._add(conn, Rollup, rollups, ["tenant", "minute", "pattern", "agent"])
        buckets = [
            {"tenant": t, "minute": m, "pattern": p, "agent": a, "kind": k, "bucket": b}
            | {"count": n}
            for (t, m, p, a, k, b), n in folded.buckets.items()
        ]
        keys = ["tenant", "minute", "pattern", "agent", "kind", "bucket"]
        await self._add(conn, DurationBucket, buckets, keys)
        patterns = {key: record.pattern or "" for key, record in folded.runs.items()}
        return [Counted(e, patterns.get((e.tenant, e.run_id), "")) for e in new]

    async def _records(
        self, conn: AsyncConnection, keys: set[tuple[str, str]]
    ) -> dict[tuple[str, str], RunRecord]:
        found: dict[tuple[str, str], RunRecord] = {}
        table = table_of(RunRecord)
        for chunk in _chunks(sorted(keys)):
            rows = await conn.execute(
                select(table).where(tuple_(table.c.tenant, table.c.run_id).in_(chunk))
            )
            for row in rows.mappings():
                record = RunRecord.model_validate(dict(row))
                found[(record.tenant, record.run_id)] = record
        return found

    async def _upsert_runs(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        for chunk in _chunks(rows):
            statement = self._insert(RunRecord).values(list(chunk))
            statement = statement.on_conflict_do_update(
                index_elements=["tenant", "run_id"],
                set_={
                    name: statement.excluded[name]
                    for name in RUN_COLUMNS
                    if name not in ("tenant", "run_id")
                },
            )
            await conn.execute(statement)

    async def _add(
        self, conn: AsyncConnection, model: Any, rows: list[dict[str, Any]], keys: list[str]
    ) -> None:
        """Insert rows, or add their values to the rows already there."""
        table = table_of(model)
        for chunk in _chunks(rows):
            statement = self._insert(model).values(list(chunk))
            added = [c for c in chunk[0] if c not in keys]
            statement = statement.on_conflict_do_update(
                index_elements=keys,
                set_={name: table.c[name] + statement.excluded[name] for name in added},
            )
            await conn.execute(statement)


__all__ = ["ROLLUP_SUMS", "Counted", "EventSink"]
