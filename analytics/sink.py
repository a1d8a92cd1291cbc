"""The SQL sink: a batch of events in one transaction, effectively once.

The batch's event ids go into `processed_events` in the same transaction as their effect
on the rollups and the runs projection: one `INSERT ... ON CONFLICT DO NOTHING RETURNING`
says which ids are new, and only those events are folded. So an event the broker
delivers again (a consumer that died before committing its offsets, a rebalance) is never
counted twice; two aggregators racing on one event (during a rebalance) meet on its
primary key, and the second waits for the first and finds it done. Rollup columns are
added with an upsert (`x = x + excluded.x`), so two aggregators writing the same minute
never lose each other's counts. The hourly and daily rollups (analytics/grains.py) are the
same rows summed by hour and day, added in the same transaction the same way, so every
grain counts exactly the events the minutes count.

Throughput: each statement is one cached, compiled Core statement. On PostgreSQL it takes
the batch as one array per column (`INSERT ... SELECT * FROM unnest($1, $2, ...)`, and a
join with `unnest($2)` for the lookup): a handful of parameters whatever the batch's size,
so neither SQLAlchemy nor the server handles a parameter per value. On SQLite the rows go
through SQLAlchemy's "insertmanyvalues" (a few multi-row statements). A batch's rollups
are summed in memory first, so each (minute, tenant, pattern, agent) row is written once
per batch; rows are written in key order, so two aggregators writing the same rows lock
them in the same order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.fold import ROLLUP_SUMS, RUN_TYPES, RunState, fold, utc
from analytics.grains import COARSE, Grain
from analytics.tables import DurationBucket, ProcessedEvent, Rollup, RunRecord
from core.events import Event

# Run ids per IN (...) lookup on SQLite: under its oldest bound-parameter limit (999).
CHUNK = 900
RETRIES = 3
ROLLUP_KEYS = ("tenant", "minute", "pattern", "agent")
BUCKET_KEYS = (*ROLLUP_KEYS, "kind", "bucket")


def table_of(model: Any) -> Table:
    """The Core table of a SQLModel class (typed: SQLModel does not declare it)."""
    table: Table = model.__table__
    return table


RUN_COLUMNS = [c.name for c in table_of(RunRecord).columns]
CLAIM_COLUMNS = ["event_id", "time"]


def _values(table: Table, columns: Sequence[str]) -> Any:
    """SQLite: an INSERT that takes its rows as a list of parameter sets."""
    return sqlite_insert(table)


def _unnesting(table: Table, columns: Sequence[str]) -> Any:
    """PostgreSQL: an INSERT that takes its rows as one array per column (`unnest`)."""
    arrays = (
        func.unnest(*(bindparam(c, type_=ARRAY(table.c[c].type)) for c in columns))
        .table_valued(*columns)
        .render_derived()
    )
    return pg_insert(table).from_select(list(columns), select(*arrays.c))


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True, slots=True)
class Counted:
    event: Event
    pattern: str


class EventSink:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._arrays = postgres = engine.dialect.name == "postgresql"
        insert = _unnesting if postgres else _values
        processed = table_of(ProcessedEvent)
        self._claim = (
            insert(processed, CLAIM_COLUMNS)
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(processed.c.event_id)
        )
        runs = insert(table_of(RunRecord), RUN_COLUMNS)
        self._upsert_runs = runs.on_conflict_do_update(
            index_elements=["tenant", "run_id"],
            set_={c: runs.excluded[c] for c in RUN_COLUMNS if c not in ("tenant", "run_id")},
        )
        self._lookup = run_lookup(postgres)
        self._add_rollups = self._adding(insert, table_of(Rollup), ROLLUP_KEYS, ROLLUP_SUMS)
        self._add_buckets = self._adding(insert, table_of(DurationBucket), BUCKET_KEYS, ("count",))
        self._coarse = [
            (
                grain,
                self._adding(insert, grain.rollups, _keys(grain, ROLLUP_KEYS), ROLLUP_SUMS),
                self._adding(insert, grain.buckets, _keys(grain, BUCKET_KEYS), ("count",)),
            )
            for grain in COARSE
        ]

    @staticmethod
    def _adding(insert: Any, table: Table, keys: Sequence[str], sums: Sequence[str]) -> Any:
        """Insert rows, or add their values to the rows already there."""
        statement = insert(table, [*keys, *sums])
        return statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: table.c[name] + statement.excluded[name] for name in sums},
        )

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
        claims = sorted(({"event_id": e.id, "time": utc(e.time)} for e in events), key=_id)
        new_ids = set((await conn.execute(self._claim, self._rows(claims))).scalars())
        new = [e for e in events if e.id in new_ids]
        if not new:
            return []
        about_runs = {(e.tenant, e.run_id) for e in new if e.type.startswith(RUN_TYPES)}
        folded = fold(new, await self._records(conn, about_runs))
        if folded.runs:
            runs = [
                {name: getattr(state, name) for name in RUN_COLUMNS}
                for _, state in sorted(folded.runs.items())
            ]
            await conn.execute(self._upsert_runs, self._rows(runs))
        rollups = [
            {"tenant": t, "minute": m, "pattern": p, "agent": a, **sums}
            for (t, m, p, a), sums in sorted(folded.rollups.items())
        ]
        buckets = [
            {"tenant": t, "minute": m, "pattern": p, "agent": a, "kind": k, "bucket": b}
            | {"count": n}
            for (t, m, p, a, k, b), n in sorted(folded.buckets.items())
        ]
        # Minutes first, then hours, then days: aggregators writing the same rows lock
        # them in the same order.
        if rollups:
            await conn.execute(self._add_rollups, self._rows(rollups))
        if buckets:
            await conn.execute(self._add_buckets, self._rows(buckets))
        for grain, add_rollups, add_buckets in self._coarse:
            if rollups:
                await conn.execute(add_rollups, self._rows(_coarsened(grain, rollups, ROLLUP_SUMS)))
            if buckets:
                await conn.execute(add_buckets, self._rows(_coarsened(grain, buckets, ("count",))))
        patterns = {key: state.pattern or "" for key, state in folded.runs.items()}
        return [Counted(e, patterns.get((e.tenant, e.run_id), "")) for e in new]

    def _rows(self, rows: list[dict[str, Any]]) -> Any:
        """The rows as the statements take them: one array per column on PostgreSQL."""
        if not self._arrays:
            return rows
        return {name: [row[name] for row in rows] for name in rows[0]}

    async def _records(
        self, conn: AsyncConnection, keys: set[tuple[str, str]]
    ) -> dict[tuple[str, str], RunState]:
        """The projection's records of these runs: `run_lookup` per tenant (all its ids
        at once on PostgreSQL, a chunk at a time on SQLite), where a list of (tenant,
        run_id) pairs would make the planner OR as many index probes."""
        found: dict[tuple[str, str], RunState] = {}
        by_tenant: dict[str, list[str]] = defaultdict(list)
        for tenant, run_id in sorted(keys):
            by_tenant[tenant].append(run_id)
        for tenant, run_ids in by_tenant.items():
            for chunk in [run_ids] if self._arrays else _chunks(run_ids):
                wanted = {"tenant": tenant, "run_ids": list(chunk)}
                for row in (await conn.execute(self._lookup, wanted)).mappings():
                    state = RunState(**row)
                    for moment in ("updated_at", "started_at", "ended_at"):
                        if (value := getattr(state, moment)) is not None:
                            setattr(state, moment, utc(value))
                    found[(state.tenant, state.run_id)] = state
        return found


def run_lookup(postgres: bool) -> Any:
    """One tenant's records of the given runs. On PostgreSQL a join with the ids as a
    table (`unnest`): the planner probes the primary key once per id, or, while its
    statistics still take the table for small, hashes the tenant's rows once. (`run_id =
    ANY($2)` in a generic plan, what a prepared statement gets after its fifth run,
    compared every row of the tenant with every id: a batch cost the table's size times
    its own.)"""
    table = table_of(RunRecord)
    by_tenant = select(table).where(table.c.tenant == bindparam("tenant"))
    if not postgres:
        return by_tenant.where(table.c.run_id.in_(bindparam("run_ids", expanding=True)))
    wanted = (
        func.unnest(bindparam("run_ids", type_=ARRAY(table.c.run_id.type)))
        .table_valued("run_id")
        .render_derived()
    )
    return by_tenant.join_from(table, wanted, table.c.run_id == wanted.c.run_id)


def _keys(grain: Grain, keys: Sequence[str]) -> list[str]:
    return [grain.column if key == "minute" else key for key in keys]


def _coarsened(
    grain: Grain, rows: list[dict[str, Any]], sums: Sequence[str]
) -> list[dict[str, Any]]:
    """Minute rows summed by the grain's period (in key order, as the minutes are)."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        period = grain.floor(row["minute"])
        keyed = {grain.column if k == "minute" else k: v for k, v in row.items() if k not in sums}
        key = tuple(period if k == grain.column else v for k, v in keyed.items())
        if (into := out.get(key)) is None:
            out[key] = keyed | {grain.column: period} | {s: row[s] for s in sums}
        else:
            for s in sums:
                into[s] += row[s]
    return [out[key] for key in sorted(out)]


def _id(claim: dict[str, Any]) -> str:
    event_id: str = claim["event_id"]
    return event_id


__all__ = ["ROLLUP_SUMS", "Counted", "EventSink", "run_lookup"]
