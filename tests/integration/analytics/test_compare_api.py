"""Regression against a baseline window and correlation between two metrics, on real SQL
with synthetic rollups: `/v1/analytics/regression`, `/v1/analytics/correlation`, and a
`regression` alert rule firing on a slower p95 and not on a steady one."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from analytics import alerting, grains, histogram
from analytics.channels import Notifier
from analytics.sink import table_of
from analytics.tables import DurationBucket, Rollup
from core.settings import Settings
from tests.conftest import api_client
from tests.integration.analytics.test_aggregator import migrated
from tests.support.recording_webhook import recording_webhook

pytestmark = pytest.mark.integration


def rollup(tenant: str, minute: datetime, agent: str, **sums: float) -> dict[str, object]:
    row: dict[str, object] = {column.name: 0 for column in table_of(Rollup).c}
    return row | {"tenant": tenant, "minute": minute, "pattern": "pipeline", "agent": agent} | sums


def buckets(tenant: str, minute: datetime, agent: str, ms: float, n: int) -> dict[str, object]:
    return {
        "tenant": tenant,
        "minute": minute,
        "pattern": "pipeline",
        "agent": agent,
        "kind": "step",
        "bucket": histogram.bucket(ms),
        "count": n,
    }


async def test_regression_and_correlation_over_synthetic_rollups(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    tenant = f"acme-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    this_minute = now.replace(second=0)
    rollups, counts = [], []
    # Two hours of minutes: agent "llm:a" steps take 200 ms until 30 minutes ago, then
    # 500 ms; "llm:b" always 100 ms. Tokens grow with i, step time with i squared.
    for i in range(1, 121):
        minute = this_minute - timedelta(minutes=i)
        slow = 500 if i <= 30 else 200
        rollups.append(
            rollup(
                tenant, minute, "llm:a",
                steps_completed=10, step_ms_sum=10 * slow, tokens=1000 + i, cost_usd=0.01 * i,
            )
        )  # fmt: skip
        counts.append(buckets(tenant, minute, "llm:a", slow, 10))
        rollups.append(
            rollup(tenant, minute, "llm:b", steps_completed=5, step_ms_sum=500, tokens=50)
        )
        counts.append(buckets(tenant, minute, "llm:b", 100, 5))
    with recording_webhook() as hook:
        async with migrated(settings) as engine, httpx.AsyncClient() as http:
            async with engine.begin() as conn:
                await conn.execute(table_of(Rollup).insert().values(rollups))
                await conn.execute(table_of(DurationBucket).insert().values(counts))
                await grains.rebuild(conn, tenant)  # the hours and days of those minutes
            async with api_client(settings, ("admin",), tenant) as api:
                last_30 = {
                    "start": (this_minute - timedelta(minutes=30)).isoformat(),
                    "end": this_minute.isoformat(),
                }
                slower = await api.get(
                    "/v1/analytics/regression",
                    params={"metric": "step_ms_p95", "agent": "llm:a", **last_30},
                )
                steady = await api.get(
                    "/v1/analytics/regression",
                    params={
                        "metric": "step_ms_p95",
                        "agent": "llm:b",
                        **last_30,
                        "baseline_start": (this_minute - timedelta(minutes=120)).isoformat(),
                    },
                )
                cost = await api.get(
                    "/v1/analytics/regression",
                    params={"metric": "cost_usd", "agent": "llm:a", **last_30},
                )
                hours = {
                    "start": (this_minute - timedelta(minutes=120)).isoformat(),
                    "end": this_minute.isoformat(),
                    "agent": "llm:a",
                }
                together = await api.get(
                    "/v1/analytics/correlation",
                    params={"x": "tokens", "y": "cost_usd", "step": 600, **hours},
                )
                durations = await api.get(
                    "/v1/analytics/correlation", params={"x": "tokens", "y": "step_ms_p95", **hours}
                )
                same = await api.get(
                    "/v1/analytics/correlation", params={"x": "tokens", "y": "tokens"}
                )
                missing_y = await api.get("/v1/analytics/correlation", params={"x": "tokens"})
                lonely_end = await api.get(
                    "/v1/analytics/regression",
                    params={"baseline_end": this_minute.isoformat(), **last_30},
                )
                for name, agent in (("a slower", "llm:a"), ("b slower", "llm:b")):
                    created = await api.post(
                        "/v1/alerts/rules",
                        json={
                            "name": name,
                            "kind": "regression",
                            "metric": "step_ms_p95",
                            "op": ">",
                            "threshold": 0.5,
                            "window_minutes": 15,
                            "baseline_minutes": 60,
                            "baseline_lag_minutes": 30,
                            "agent": agent,
                            "url": f"{hook.url}/{agent}",
                        },
                    )
                    assert created.status_code == 201, created.text
                assert await alerting.evaluate(engine, Notifier(http, settings), now) == 1
                (alert,) = (await api.get("/v1/alerts")).json()

    # p95 from 200 ms to 500 ms: +150%, within the histogram's 9% on each side.
    found = slower.json()
    assert slower.status_code == 200 and found["baseline_end"] == found["start"]
    assert found["current"] == pytest.approx(500, rel=0.1)
    assert found["baseline"] == pytest.approx(200, rel=0.1)
    assert found["change"] == pytest.approx(1.5, rel=0.15)
    assert steady.json()["change"] == 0 and steady.json()["baseline_start"].startswith(
        (this_minute - timedelta(minutes=120)).strftime("%Y-%m-%dT%H:%M")
    )
    # Cost: the last 30 minutes (i = 1..30) against the 30 before (i = 31..60), exactly.
    sum_now, sum_before = sum(range(1, 31)) * 0.01, sum(range(31, 61)) * 0.01
    assert cost.json()["change"] == pytest.approx((sum_now - sum_before) / sum_before)

    linear = together.json()
    assert linear["n"] == 12 and linear["step_seconds"] == 600
    assert linear["pearson"] == pytest.approx(1.0) and linear["spearman"] == pytest.approx(1.0)
    # Step time steps down as tokens grow (older minutes: more tokens, 200 ms): a
    # negative correlation, the same for ranks (two levels, so not -1).
    stepped = durations.json()
    assert stepped["n"] == 120
    # point-biserial: -(mean i of the 200 ms minutes - of the 500 ms ones) x sqrt(p q) / sd(i)
    expected = -(75.5 - 15.5) * math.sqrt(30 * 90) / 120 / math.sqrt((120**2 - 1) / 12)
    assert stepped["pearson"] == pytest.approx(expected, abs=0.02)
    assert stepped["spearman"] == pytest.approx(stepped["pearson"], abs=0.02)

    assert same.status_code == 200 and same.json()["pearson"] in (None, pytest.approx(1.0))
    assert missing_y.status_code == 422 and "y" in missing_y.text
    # A baseline end alone: a baseline as long as the range, ending there.
    alone = lonely_end.json()
    assert lonely_end.status_code == 200, lonely_end.text
    assert alone["baseline_end"] == this_minute.isoformat().replace("+00:00", "Z")
    span = datetime.fromisoformat(alone["end"]) - datetime.fromisoformat(alone["start"])
    assert datetime.fromisoformat(alone["baseline_start"]) == this_minute - span
    # The regression rule fired for the agent whose p95 regressed, and only for it.
    assert alert["rule_name"] == "a slower" and alert["value"] == pytest.approx(500, rel=0.1)
    assert "+1" in alert["message"] and "baseline" in alert["message"]
    assert [path for path, _ in hook.received] == ["/llm:a"]
