"""`/v1/reports` as JSON and CSV over rollups the real sink wrote."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from analytics.sink import EventSink
from core.settings import Settings
from tests.conftest import api_client
from tests.integration.analytics.test_aggregator import migrated
from tests.integration.analytics.test_analytics_api import run

pytestmark = pytest.mark.integration


async def test_a_report_has_a_row_per_step_as_json_and_csv(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    tenant = f"acme-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    events = [
        e
        for minutes_ago in range(1, 6)
        for e in run(tenant, now - timedelta(minutes=minutes_ago), "llm:a", 200, 0.5, True)
    ]
    async with migrated(settings) as engine:
        await EventSink(engine).apply(events)
        async with api_client(settings, ("runs:read",), tenant) as http:
            as_json = await http.get("/v1/reports", params={"range": "15m"})
            as_csv = await http.get("/v1/reports", params={"range": "15m", "format": "csv"})
    report = as_json.json()
    assert as_json.status_code == 200 and len(report["rows"]) == 15
    assert sum(row["runs_completed"] for row in report["rows"]) == 5
    assert report["agents"][0]["agent"] == "llm:a" and report["patterns"][0]["runs_started"] == 5
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == 15 and sum(float(r["cost_usd"]) for r in rows) == pytest.approx(2.5)
    assert list(rows[0]) == report["columns"]
