"""`/v1/analytics` over rollups the real SQL sink wrote: series, presets and custom
ranges, percentiles, agent efficiency, patterns, anomalies, tenants, bad input."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from analytics.sink import EventSink
from core.events import Event
from core.settings import Settings
from tests.conftest import api_client
from tests.integration.analytics.test_aggregator import migrated

pytestmark = pytest.mark.integration


def run(tenant: str, at: datetime, agent: str, ms: float, cost: float, ok: bool) -> list[Event]:
    base = {"source": "t", "tenant": tenant, "run_id": uuid.uuid4().hex}
    step = {**base, "step": "s", "agent": agent}
    end = "run.completed" if ok else "run.failed"
    data = {"pattern": "pipeline", "name": "n"}
    return [
        Event(type="run.started", time=at, data=data, **base),
        Event(type="step.started", time=at, **step),
        Event(
            type="step.completed" if ok else "step.failed",
            time=at,
            cost_usd=cost if ok else None,
            tokens=10 if ok else None,
            data={"duration_ms": ms} if ok else {"error": "x"},
            **step,
        ),
        Event(type=end, time=at, data={**data, "quality": 0.9} if ok else data, **base),
    ]


async def test_analytics_answer_from_the_rollups_for_the_callers_tenant(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    tenant = f"acme-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    spike = now - timedelta(minutes=5)
    events: list[Event] = []
    for minutes_ago in range(1, 40):
        at = now - timedelta(minutes=minutes_ago)
        for _ in range(3):
            events += run(tenant, at, "llm:fast", 100, 0.001, ok=True)
        events += run(tenant, at, "llm:slow", 1000, 0.01, ok=True)
        events += run(tenant, at, "llm:slow", 0, 0, ok=minutes_ago % 2 == 0)
    for _ in range(15):
        events += run(tenant, spike, "llm:slow", 0, 0, ok=False)
    async with migrated(settings) as engine:
        await EventSink(engine).apply(events)
        async with api_client(settings, ("runs:read",), tenant) as http:
            completed = await http.get("/v1/analytics/timeseries", params={"range": "1h"})
            rate = await http.get(
                "/v1/analytics/timeseries",
                params={"metric": "completion_rate", "range": "1h", "pattern": "pipeline"},
            )
            custom = await http.get(
                "/v1/analytics/timeseries",
                params={
                    "metric": "cost_usd",
                    "start": (now - timedelta(minutes=10)).isoformat(),
                    "end": now.isoformat(),
                    "step": 300,
                },
            )
            durations = await http.get("/v1/analytics/durations", params={"range": "1h"})
            agents = await http.get("/v1/analytics/agents", params={"range": "24h"})
            patterns = await http.get("/v1/analytics/patterns", params={"range": "7d"})
            anomalies = await http.get(
                "/v1/analytics/anomalies",
                params={
                    "metric": "runs_failed",
                    "start": (now - timedelta(minutes=39)).isoformat(),
                    "end": now.isoformat(),
                    "window": 20,
                },
            )
            bad_range = await http.get("/v1/analytics/timeseries", params={"range": "2w"})
            backwards = await http.get(
                "/v1/analytics/agents",
                params={"start": now.isoformat(), "end": (now - timedelta(hours=1)).isoformat()},
            )
            unix_time = await http.get("/v1/analytics/agents", params={"start": "0.5"})
        async with api_client(settings, ("runs:read",), "someone-else") as http:
            foreign = await http.get("/v1/analytics/timeseries", params={"range": "1h"})

    series = completed.json()
    assert completed.status_code == 200 and series["step_seconds"] == 60
    assert len(series["points"]) == 60
    assert sum(p["value"] for p in series["points"]) == 39 * 4 + 19  # every 2nd slow run ok
    rates = [p["value"] for p in rate.json()["points"] if p["value"] is not None]
    assert len(rates) == 39 and min(rates) == pytest.approx(4 / 20)  # the spike minute
    cost = custom.json()
    assert [p["value"] for p in cost["points"]] == pytest.approx([5 * 0.013, 5 * 0.013])

    steps = durations.json()
    assert steps["count"] == 39 * 4 + 19
    assert steps["percentiles_ms"]["p50"] == pytest.approx(100, rel=0.1)
    assert steps["percentiles_ms"]["p99"] == pytest.approx(1000, rel=0.1)

    fast, slow = agents.json()
    assert fast["agent"] == "llm:fast" and fast["backend"] == "llm" and fast["score"] == 1.0
    assert slow["success_rate"] == pytest.approx(58 / (58 + 20 + 15))
    # success rate x cost factor (0.001 / (0.39 / 58)) x speed factor (100 / mean ms)
    slow_mean = (39 * 1000 + 19 * 0) / 58
    expected = slow["success_rate"] * (0.001 / (0.39 / 58)) * (100 / slow_mean)
    assert slow["score"] == pytest.approx(expected, abs=1e-4)

    (pipeline,) = patterns.json()
    assert pipeline["pattern"] == "pipeline" and pipeline["quality"] == pytest.approx(0.9)
    assert pipeline["runs_started"] == 39 * 5 + 15

    flagged = [p["time"] for p in anomalies.json()["points"] if p["anomaly"]]
    assert flagged == [spike.replace(second=0).isoformat().replace("+00:00", "Z")]

    assert bad_range.status_code == 422 and "range" in bad_range.text
    assert backwards.status_code == 200 and backwards.json() == []  # an empty range
    assert unix_time.status_code == 422 and "ISO 8601" in unix_time.text
    assert all(p["value"] == 0 for p in foreign.json()["points"])
