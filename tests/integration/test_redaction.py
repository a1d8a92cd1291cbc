"""A secret a step prints (a configured key, or anything shaped like a credential) is
masked before it leaves the worker: in the step's output and error in history, in the
run's events and in the logs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer
from temporalio.testing import WorkflowEnvironment

from core.events import Event
from core.settings import Settings
from tests.conftest import api_client, running_workers

pytestmark = pytest.mark.integration
CONFIGURED = "configured-provider-key-5d1e"
GITHUB = "ghp_" + "Q" * 36


async def test_a_printed_secret_is_masked_in_history_events_and_logs(
    temporal_env: WorkflowEnvironment,
    make_settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    address = temporal_env.client.service_client.config.target_host
    settings = make_settings(TEMPORAL_ADDRESS=address, OPENAI_API_KEY=CONFIGURED)
    leak = f"import sys; print('{CONFIGURED}'); print('{GITHUB}', file=sys.stderr); sys.exit(3)"
    spec = {
        "name": "leaky",
        "steps": [
            {"name": "say", "agent": {"backend": "shell", "command": ["echo", CONFIGURED]}},
            {"name": "leak", "agent": {"backend": "shell", "command": ["python3", "-c", leak]}},
        ],
    }
    with caplog.at_level(logging.DEBUG):
        async with running_workers(temporal_env.client, settings), api_client(settings) as http:
            run_id = (await http.post("/v1/runs", json=spec)).json()["id"]
            view = (await http.get(f"/v1/runs/{run_id}", params={"wait": 30})).json()
            assert view["status"] == "failed", view
            timeline = (await http.get(f"/v1/runs/{run_id}/timeline")).json()
    history = str(view) + str(timeline)
    assert "[redacted]" in history
    assert CONFIGURED not in history and GITHUB not in history
    events = await _events(settings, run_id)
    assert any(e.type == "step.failed" for e in events)
    printed = "".join(e.model_dump_json() for e in events)
    assert CONFIGURED not in printed and GITHUB not in printed
    assert CONFIGURED not in caplog.text and GITHUB not in caplog.text


async def _events(settings: Settings, run_id: str) -> list[Event]:
    consumer = AIOKafkaConsumer(
        settings.EVENTS_TOPIC,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
    )
    await consumer.start()
    found: list[Event] = []
    deadline = time.monotonic() + 15
    try:
        while time.monotonic() < deadline and not any(e.type == "run.failed" for e in found):
            batch = await consumer.getmany(timeout_ms=500)
            found += [
                event
                for messages in batch.values()
                for event in map(Event.decode, (m.value for m in messages))
                if event.run_id == run_id
            ]
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return found
