"""The sink's lookup of a batch's runs never compares every row with every id. On
PostgreSQL that is checked in a generic plan (what a prepared statement gets after its
fifth run), first over a table that grew since its statistics were taken, then after
ANALYZE, where it probes the primary key once per id. The plan it replaced
(`run_id = ANY($2)`) filtered every row of the tenant against all the batch's ids: a
batch cost the projection's size times its own."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.sink import EventSink, run_lookup
from core.settings import Settings
from tests.integration.analytics.test_aggregator import migrated, run_events

pytestmark = pytest.mark.integration
RUNS = 5000


def literal(value: object) -> str:
    """A test value as SQL (EXECUTE takes expressions, not parameters)."""
    if isinstance(value, list):
        return f"ARRAY[{', '.join(map(literal, value))}]"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


async def generic_plan(conn: AsyncConnection, lookup: Any, values: dict[str, Any]) -> str:
    compiled = lookup.compile(conn.engine.sync_engine)
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    name = f"lookup_{uuid.uuid4().hex[:8]}"
    await driver.execute("SET plan_cache_mode = force_generic_plan")
    await driver.execute(f"PREPARE {name} AS {compiled}")
    given = compiled.params | values
    arguments = ", ".join(literal(given[key]) for key in compiled.positiontup or [])
    rows = await driver.fetch(f"EXPLAIN EXECUTE {name}({arguments})")
    await driver.execute(f"DEALLOCATE {name}")
    return "\n".join(row[0] for row in rows)


def filters_rows_by_id(plan: str) -> bool:
    return "ANY" in plan or any("Filter" in line and "run_id" in line for line in plan.split("\n"))


async def test_the_lookup_finds_the_known_runs_without_comparing_every_row_with_every_id(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    tenant = f"acme-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    known = [f"r-{n}" for n in range(RUNS)]
    async with migrated(settings) as engine:
        sink = EventSink(engine)
        for start in range(0, RUNS, 1000):  # the table grows after migration, unanalyzed
            await sink.apply(
                [e for r in known[start : start + 1000] for e in run_events(tenant, r, now)]
            )
        postgres = engine.dialect.name == "postgresql"
        lookup = run_lookup(postgres)
        values = {"tenant": tenant, "run_ids": [*known[::50], "r-never-seen"]}
        async with engine.connect() as conn:
            found = await conn.execute(lookup, values)
            assert sorted(row.run_id for row in found) == sorted(known[::50])
            if not postgres:
                one = lookup.params(tenant=tenant, run_ids=["r-1"]).compile(
                    engine.sync_engine, compile_kwargs={"render_postcompile": True}
                )
                rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {one}", (tenant, "r-1"))
                plan = "\n".join(str(row[-1]) for row in rows)
                assert "run_id=?" in plan, plan
                return
            stale = await generic_plan(conn, lookup, values)
            assert not filters_rows_by_id(stale), stale
            await conn.execute(text("ANALYZE run_records"))
            analyzed = await generic_plan(conn, lookup, values)
            assert "run_records_pkey" in analyzed and not filters_rows_by_id(analyzed), analyzed
