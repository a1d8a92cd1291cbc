"""No event lost: the real broker stops in the middle of a run and comes back empty (the dev
broker keeps nothing); every event of the run still reaches the topic, in order."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from core.bus import EventBus, build_consumer
from core.events import Event
from core.settings import Settings, load_settings
from tests.conftest import api_client, running_workers
from tests.support import servers

pytestmark = pytest.mark.integration


async def read_topic(
    bootstrap: str, topic: str, until: Callable[[list[Event]], bool], timeout: float = 30
) -> list[Event]:
    """Events on `topic` from its start, read until `until` holds."""
    consumer = build_consumer(bootstrap, topic, group_id=None)
    await consumer.start()
    got: list[Event] = []
    try:
        async with asyncio.timeout(timeout):
            while not until(got):
                batch = await consumer.getmany(timeout_ms=100)
                got += [Event.decode(m.value) for msgs in batch.values() for m in msgs]
    finally:
        await consumer.stop()
    return got


async def metric(http: httpx.AsyncClient, name: str) -> float:
    text = (await http.get("/metrics")).text
    line = next(line for line in text.splitlines() if line.startswith(f"{name} "))
    return float(line.split()[1])


async def test_every_event_of_a_run_reaches_the_topic_across_a_broker_restart(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    port = servers.free_port()
    broker = contextlib.ExitStack()
    bootstrap = broker.enter_context(servers.tansu(tmp_path / "tansu-1.log", port=port))
    settings = make_settings(
        KAFKA_BOOTSTRAP=bootstrap,
        TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host,
    )
    spec = {
        "name": "outbox",
        "steps": [
            {"name": "before", "agent": {"backend": "shell", "command": "echo one"}},
            {"name": "during", "agent": {"backend": "shell", "command": "sleep 2"}},
            {"name": "after", "agent": {"backend": "shell", "command": "echo two"}},
            {"name": "last", "agent": {"backend": "shell", "command": "echo three"}},
        ],
    }
    try:
        async with running_workers(temporal_env.client, settings), api_client(settings) as http:
            run_id = (await http.post("/v1/runs", json=spec)).json()["id"]

            def sleeping(events: list[Event]) -> bool:
                return any(e.type == "step.started" and e.step == "during" for e in events)

            before = await read_topic(bootstrap, settings.EVENTS_TOPIC, sleeping)
            broker.close()  # the broker goes away while the run is in its second step
            run = (await http.get(f"/v1/runs/{run_id}", params={"wait": 30})).json()
            assert run["status"] == "completed"
            # The end of the run waits in the outbox, and /metrics says so.
            for _ in range(200):
                if await metric(http, "acc_outbox_backlog") >= 4:
                    break
                await asyncio.sleep(0.1)
            assert await metric(http, "acc_outbox_backlog") >= 4
            assert await metric(http, "acc_outbox_dropped_total") == 0

            broker.enter_context(servers.tansu(tmp_path / "tansu-2.log", port=port))
            for _ in range(300):
                if await metric(http, "acc_outbox_backlog") == 0:
                    break
                await asyncio.sleep(0.1)
            assert await metric(http, "acc_outbox_backlog") == 0

            def finished(events: list[Event]) -> bool:
                return any(e.type == "run.completed" and e.run_id == run_id for e in events)

            after = await read_topic(bootstrap, settings.EVENTS_TOPIC, finished)
    finally:
        broker.close()

    ours = [e for e in before + after if e.run_id == run_id]
    seen = {(e.type, e.step) for e in ours}
    expected = {("run.started", None), ("run.completed", None)} | {
        (kind, step)
        for step in ("before", "during", "after", "last")
        for kind in ("step.started", "step.completed")
    }
    assert expected <= seen, expected - seen
    # What the outbox sent after the restart arrived in the order it happened.
    resent = [(e.type, e.step) for e in after if e.run_id == run_id]
    assert resent[-1] == ("run.completed", None)
    assert resent.index(("step.started", "after")) < resent.index(("step.completed", "after"))
    assert resent.index(("step.completed", "after")) < resent.index(("step.started", "last"))


async def test_events_a_dead_process_left_in_the_outbox_are_sent_by_the_next(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = f"outbox-{uuid.uuid4().hex[:8]}"
    down = EventBus.from_settings(
        load_settings(KAFKA_BOOTSTRAP="127.0.0.1:1", EVENTS_TOPIC=topic, DATA_DIR=tmp_path)
    )
    down._queue_timeout = 0.1
    sent = [Event(type="step.completed", source="t", run_id="r", data={"n": i}) for i in range(5)]
    for event in sent:
        await down.publish(event)
    assert down.backlog() == 5
    # The process dies without stopping its bus; the next one starts on the same data dir.
    up = EventBus.from_settings(
        load_settings(KAFKA_BOOTSTRAP=kafka_bootstrap, EVENTS_TOPIC=topic, DATA_DIR=tmp_path)
    )
    await up.start()
    later = Event(type="run.completed", source="t", run_id="r")
    await up.publish(later)  # queues behind what the outbox holds
    got = await read_topic(kafka_bootstrap, topic, lambda events: len(events) >= 6)
    for _ in range(50):  # the batch leaves the outbox once acknowledged
        if up.backlog() == 0:
            break
        await asyncio.sleep(0.05)
    assert up.resent == 6 and up.backlog() == 0
    await up.stop()
    assert [e.id for e in got] == [e.id for e in [*sent, later]]
