"""The `alerts` and `metrics` channels: alerts opened (by a running aggregator's alert
rounds), acknowledged (through the API) and resolved, and the aggregator's 1-second
windows, pushed live by the pool to the tenant's
subscribers only; an `alerts` subscriber resumes on another node from its last position
with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment
from websockets.asyncio.client import ClientConnection, connect

from analytics import alerting
from analytics.aggregator import Aggregator
from analytics.channels import Notifier
from analytics.sink import EventSink
from core.auth import ApiKeys
from core.bus import EventBus
from core.settings import Settings
from pool import protocol as p
from pool.subscriber import subscribe
from tests.conftest import api_client
from tests.integration.analytics.test_aggregator import FAST_GROUP, migrated, until
from tests.integration.analytics.test_analytics_api import run
from tests.support.pool import running_node
from tests.support.recording_webhook import recording_webhook
from tests.support.servers import free_port

pytestmark = pytest.mark.integration


async def _hello(ws: ClientConnection, token: str, *channels: str) -> None:
    await ws.send(p.encode(p.Hello(token=token, role="subscriber")))
    assert isinstance(p.parse_server(await ws.recv()), p.Registered)
    for channel in channels:
        await ws.send(p.encode(p.Subscribe(channel=channel)))
        assert isinstance(p.parse_server(await ws.recv()), p.Subscribed)


async def _next(ws: ClientConnection) -> p.EventMessage:
    message = p.parse_server(await asyncio.wait_for(ws.recv(), 30))
    assert isinstance(message, p.EventMessage)
    return message


async def test_alerts_and_metric_windows_are_pushed_live_and_resume_on_another_node(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    suffix = uuid.uuid4().hex[:8]
    settings = make_settings(
        POOL_PORT=free_port(), METRICS_TOPIC=f"metrics-{suffix}", AGGREGATOR_GROUP=f"agg-{suffix}"
    )
    other_node = settings.model_copy(update={"POOL_PORT": free_port()})
    tenant = f"acme-{suffix}"
    now = datetime.now(UTC)
    last_minute = now.replace(second=0, microsecond=0) - timedelta(seconds=30)
    client = temporal_env.client
    windows: list[dict[str, Any]] = []
    async with (
        migrated(settings) as engine,
        httpx.AsyncClient() as http,
        contextlib.AsyncExitStack() as stack,
    ):
        hook = stack.enter_context(recording_webhook())
        _, reader = await ApiKeys(engine).create("reader", tenant, ["runs:read"])
        _, stranger = await ApiKeys(engine).create("stranger", f"other-{suffix}", ["runs:read"])
        # Five runs failed in the last minute: the rule below breaches.
        failed = [e for _ in range(5) for e in run(tenant, last_minute, "shell", 0, 0, False)]
        await EventSink(engine).apply(failed)
        bus = EventBus.from_settings(settings)
        await bus.start()
        stack.push_async_callback(bus.stop)
        aggregator = Aggregator(settings, engine, "live", FAST_GROUP)
        aggregator.alert_check_seconds = 0.5  # its alert rounds open alerts (at the real time)
        stop_aggregator = asyncio.Event()
        aggregating = asyncio.create_task(aggregator.run(stop_aggregator))
        a = await stack.enter_async_context(running_node(settings, client, "node-a"))
        b = await stack.enter_async_context(running_node(other_node, client, "node-b"))
        admin = await stack.enter_async_context(api_client(settings, ("admin",), tenant))
        outsider = await stack.enter_async_context(connect(b.url))
        first = await stack.enter_async_context(connect(a.url))
        await _hello(outsider, stranger, "alerts", "metrics")
        await _hello(first, reader, "alerts")

        async def follow_metrics() -> None:
            async for _, window in subscribe([a.url], reader, "metrics"):
                windows.append(window)

        following = asyncio.create_task(follow_metrics())
        rule = await admin.post(
            "/v1/alerts/rules",
            json={
                "name": "failures",
                "metric": "runs_failed",
                "op": ">",
                "threshold": 2,
                "window_minutes": 5,
                "url": f"{hook.url}/hook",
            },
        )
        assert rule.status_code == 201
        opened = await _next(first)  # the aggregator's next round
        alert_id = opened.event["data"]["id"]
        assert (await admin.post(f"/v1/alerts/{alert_id}/ack")).status_code == 200
        acknowledged = await _next(first)
        await first.close()

        # Ten minutes on the failures are out of the window: resolved while nobody
        # follows; the subscriber comes back on the other node where it left off.
        notifier = Notifier(http, settings)
        await alerting.evaluate(engine, notifier, now + timedelta(minutes=10), bus.publish)
        resumed: list[dict[str, Any]] = []
        async with asyncio.timeout(30):
            async for _, event in subscribe([b.url], reader, "alerts", after=acknowledged.position):
                resumed.append(event)  # then the aggregator's next round: a new alert, live
                if len(resumed) == 2:
                    break

        # The aggregator's windows of this tenant's work, live.
        await until(lambda: len(aggregator.partitions()) == 3, 60)
        for event in run(tenant, datetime.now(UTC), "shell", 5, 0.01, True):
            await bus.publish(event)
        await until(  # (the subscribers' own connection events are counted too)
            lambda: (
                sum(w["runs_completed"] for w in windows) >= 1
                and sum(w["steps_completed"] for w in windows) >= 1
            )
        )
        following.cancel()
        stop_aggregator.set()
        await asyncio.wait_for(aggregating, 30)
        outsiders: list[p.EventMessage] = []  # the stranger's own connection is its tenant's
        with contextlib.suppress(TimeoutError):
            while True:
                outsiders.append(
                    p.EventMessage.model_validate_json(await asyncio.wait_for(outsider.recv(), 1))
                )

    assert opened.channel == "alerts" and opened.event["type"] == "alert.opened"
    assert opened.event["tenant"] == tenant and opened.event["data"]["status"] == "firing"
    assert acknowledged.event["type"] == "alert.acknowledged"
    assert acknowledged.event["data"]["acknowledged_by"]
    assert [e["type"] for e in resumed] == ["alert.resolved", "alert.opened"]
    assert resumed[0]["data"]["id"] == alert_id
    assert resumed[1]["data"]["id"] != alert_id
    assert {w["tenant"] for w in windows} == {tenant}
    assert all(m.event["tenant"] == f"other-{suffix}" for m in outsiders)
    assert sum(w["runs_completed"] for w in windows) == 1
    assert sum(w["steps_completed"] for w in windows) == 1
