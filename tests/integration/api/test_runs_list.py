"""`GET /v1/runs` over a runs projection of thousands of runs, on the real database:
keyset pages that neither skip nor repeat a run (also while runs start between pages),
the filters and the search on the server, the tenant always the credential's, and the
errors a bad cursor or range gets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from analytics import heartbeats
from analytics.sink import table_of
from analytics.tables import RunRecord
from core import db
from core.settings import Settings
from tests.conftest import api_client

pytestmark = pytest.mark.integration
TENANT, OTHER = "acme", "initech"
START = datetime(2026, 1, 1, tzinfo=UTC)
STATUSES = ("running", "waiting", "completed", "failed", "cancelled")
PATTERNS = ("pipeline", "scatter-gather", "saga")
COUNT = 3000


def record(i: int, tenant: str = TENANT) -> dict[str, Any]:
    """Run i: one every 10 s but every tenth shares its start with the run before (ties),
    and every 500th started before any event said so (no start time)."""
    second = (i - (i % 10 == 1)) * 10
    started = None if i % 500 == 7 else START + timedelta(seconds=second)
    return {
        "tenant": tenant,
        "run_id": f"{'deploy' if i % 7 == 0 else 'nightly'}-{i:05d}",
        "name": "Deploy-Web" if i % 7 == 0 else "nightly_report",
        "pattern": PATTERNS[i % 3],
        "status": STATUSES[i % 5],
        "started_at": started,
        "updated_at": START,
    }


def newest_first(rows: list[dict[str, Any]]) -> list[str]:
    dated = sorted((r for r in rows if r["started_at"]), key=lambda r: r["run_id"])
    dated.sort(key=lambda r: r["started_at"], reverse=True)
    undated = sorted(r["run_id"] for r in rows if not r["started_at"])
    return [r["run_id"] for r in dated] + undated


async def every_page(
    http: httpx.AsyncClient, params: dict[str, Any], between: Callable[[int], Any] | None = None
) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    for n in range(1000):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        resp = await http.get("/v1/runs", params=query)
        assert resp.status_code == 200, resp.text
        assert resp.headers["X-Acc-List-Source"] == "projection"
        page = resp.json()
        assert len(page) <= params["limit"]
        ids += [run["id"] for run in page]
        cursor = resp.headers.get("X-Acc-Next-Cursor")
        if cursor is None:
            return ids
        assert len(page) == params["limit"]
        if between is not None:
            await between(n)
    raise AssertionError("no last page")


async def test_pages_filters_and_search_over_thousands_of_runs(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    engine = db.create_engine(settings)
    try:
        await db.migrate(engine, settings.DATABASE_SCHEMA)
        rows = [record(i) for i in range(COUNT)] + [record(i, OTHER) for i in range(200)]
        async with engine.begin() as conn:
            await conn.execute(insert(table_of(RunRecord)), rows)
        await heartbeats.beat(engine, "test", [0], 0)
        mine = rows[:COUNT]
        newer_runs: list[dict[str, Any]] = []

        async def start_newer(n: int) -> None:
            """Runs that start while the list is read land before its first page."""
            newer = record(COUNT + n)
            newer["started_at"] = START + timedelta(days=30, seconds=n)
            newer_runs.append(newer)
            async with engine.begin() as conn:
                await conn.execute(insert(table_of(RunRecord)), [newer])

        async with api_client(settings, ("runs:read",), TENANT) as http:
            everything = await every_page(http, {"limit": 250}, start_newer)
            failed_saga = await every_page(
                http, {"limit": 40, "status": "failed", "pattern": "saga"}
            )
            search = await every_page(http, {"limit": 100, "q": "DEPLOY-w"})
            by_id = await every_page(http, {"limit": 100, "q": "-0012"})
            since, until = START + timedelta(hours=1), START + timedelta(hours=2)
            window = await every_page(
                http,
                {"limit": 50, "since": since.isoformat(), "until": until.isoformat()},
            )
            like_chars = await http.get("/v1/runs", params={"q": "%_"})
            bad_cursor = await http.get("/v1/runs", params={"cursor": "not-a-cursor"})
            unix_time = await http.get("/v1/runs", params={"until": "0.5"})
            backwards = await http.get(
                "/v1/runs", params={"since": until.isoformat(), "until": since.isoformat()}
            )
    finally:
        await engine.dispose()

    # Every run once, in order; the ones started meanwhile are not on later pages.
    assert everything == newest_first(mine)
    assert len(everything) == COUNT and newer_runs
    mine += newer_runs
    assert failed_saga == newest_first(
        [r for r in mine if r["status"] == "failed" and r["pattern"] == "saga"]
    )
    assert search == newest_first([r for r in mine if r["name"] == "Deploy-Web"])
    assert by_id == newest_first([r for r in mine if "-0012" in r["run_id"]])
    assert by_id and len(by_id) == 10
    assert window == newest_first(
        [r for r in mine if r["started_at"] and since <= r["started_at"] < until]
    )
    assert len(window) == 359  # runs 360-719 but 507, which has no start
    assert like_chars.status_code == 200 and like_chars.json() == []
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["error"]["details"] == {"field": "cursor"}
    assert backwards.status_code == 200 and backwards.json() == []  # an empty window
    assert unix_time.status_code == 422 and "ISO 8601" in unix_time.text
