"""Which channels a record of the events or metrics topic goes to, and for which tenant."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from analytics.windows import WindowMetrics
from core.events import Event
from pool.subscriptions import event_item, metrics_item


def _event(kind: str, run_id: str = "r1", **data: object) -> bytes:
    return Event.model_validate(
        {"type": kind, "source": "t", "run_id": run_id, "tenant": "acme", "data": data}
    ).encode()


def test_events_go_to_their_channels() -> None:
    step = event_item(_event("step.completed"))
    alert = event_item(_event("alert.opened", "alert:a1", id="a1", status="firing"))
    agent = event_item(_event("pool.registered", "connection:c1", role="agent"))
    watcher = event_item(_event("pool.registered", "connection:c2", role="subscriber"))
    assert step is not None and step.channels == ("runs", "run:r1") and step.tenant == "acme"
    assert alert is not None and alert.channels == ("alerts",)
    assert alert.payload["data"]["status"] == "firing"
    assert agent is not None and agent.channels == ("agents",)
    assert watcher is not None and watcher.channels == ()  # subscribers' own: nowhere
    assert event_item(b"not json") is None


def test_metric_windows_go_to_the_metrics_channel_of_their_tenant() -> None:
    window = WindowMetrics(tenant="acme", window_start=datetime.now(UTC), member="m", events=3)
    item = metrics_item(window.model_dump_json().encode())
    assert item is not None and item.channels == ("metrics",) and item.tenant == "acme"
    assert item.payload["events"] == 3
    assert metrics_item(b"[1, 2]") is None
    assert metrics_item(json.dumps({"events": 1}).encode()) is None  # no tenant: nobody's
    assert metrics_item(b"{") is None
