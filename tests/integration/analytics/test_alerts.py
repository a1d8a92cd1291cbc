"""Alerts end to end on real SQL and a local recording webhook: rules from the API, a
breach notified once (deduplicated), acknowledged, resolved; a test alert; Slack's
shape; tenants and admins only."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from analytics import alerting
from analytics.channels import Notifier
from analytics.sink import EventSink
from core.settings import Settings
from tests.conftest import api_client
from tests.integration.analytics.test_aggregator import migrated
from tests.integration.analytics.test_analytics_api import run
from tests.support.recording_webhook import recording_webhook

pytestmark = pytest.mark.integration


async def test_a_breach_is_notified_once_acknowledged_and_resolved(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    tenant = f"acme-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    last_minute = now.replace(second=0, microsecond=0) - timedelta(seconds=30)
    with recording_webhook() as hook:
        async with migrated(settings) as engine, httpx.AsyncClient() as http:
            notifier = Notifier(http, settings)
            events = [e for _ in range(5) for e in run(tenant, last_minute, "shell", 0, 0, False)]
            await EventSink(engine).apply(events)
            async with api_client(settings, ("admin",), tenant) as admin:
                failing = await admin.post(
                    "/v1/alerts/rules",
                    json={
                        "name": "failures",
                        "metric": "runs_failed",
                        "op": ">",
                        "threshold": 2,
                        "window_minutes": 5,
                        "url": f"{hook.url}/generic/secret-path",
                    },
                )
                quiet = await admin.post(
                    "/v1/alerts/rules",
                    json={
                        "name": "sagas stopped",
                        "kind": "absence",
                        "pattern": "saga",
                        "window_minutes": 10,
                        "channel": "slack",
                        "url": f"{hook.url}/slack",
                    },
                )
                bad = await admin.post(
                    "/v1/alerts/rules", json={"name": "x", "metric": "nope", "url": hook.url}
                )
                rules = (await admin.get("/v1/alerts/rules")).json()

                assert await alerting.evaluate(engine, notifier, now) == 2
                assert await alerting.evaluate(engine, notifier, now + timedelta(seconds=15)) == 0
                notified = list(hook.received)
                firing = (await admin.get("/v1/alerts", params={"status": "firing"})).json()
                alert = next(a for a in firing if a["rule_name"] == "failures")
                acked = await admin.post(f"/v1/alerts/{alert['id']}/ack")
                again = await admin.post(f"/v1/alerts/{alert['id']}/ack")
                tested = await admin.post(f"/v1/alerts/rules/{failing.json()['id']}/test")

                # Ten minutes on, the failures are out of the window: resolved, and told.
                later = now + timedelta(minutes=10)
                assert await alerting.evaluate(engine, notifier, later) == 0
                history = (await admin.get("/v1/alerts")).json()
            async with api_client(settings, ("runs:write",), tenant) as writer:
                not_admin = await writer.post(
                    "/v1/alerts/rules", json={"name": "x", "url": hook.url}
                )
            async with api_client(settings, ("admin",), "someone-else") as other:
                foreign_ack = await other.post(f"/v1/alerts/{alert['id']}/ack")
                foreign_list = (await other.get("/v1/alerts")).json()

    assert failing.status_code == 201 and quiet.status_code == 201
    assert bad.status_code == 422 and "metric" in bad.text
    assert [r["destination"] for r in rules] == [f"{hook.url}/…"] * 2  # no secret path
    # Two alerts, each notified once although both conditions held at two checks.
    assert sorted(path for path, _ in notified) == ["/generic/secret-path", "/slack"]
    generic = next(body for path, body in notified if path.startswith("/generic"))
    assert generic["event"] == "firing" and generic["alert"]["value"] == 5
    assert "url" not in generic["rule"]
    slack = next(body for path, body in notified if path == "/slack")
    assert set(slack) == {"text", "blocks"} and "sagas stopped" in slack["text"]
    assert alert["occurrences"] == 2
    assert acked.json()["status"] == "acknowledged" and acked.json()["acknowledged_by"]
    assert again.status_code == 409
    assert tested.json() == {"outcome": "test: HTTP 200"}
    assert hook.received[2][1]["event"] == "test"
    assert hook.received[3][1]["event"] == "resolved"
    by_rule = {a["rule_name"]: a for a in history}
    assert by_rule["failures"]["status"] == "resolved"
    assert by_rule["sagas stopped"]["status"] == "firing"  # still no saga events
    assert not_admin.status_code == 403
    assert foreign_ack.status_code == 404 and foreign_list == []
