"""Topic messages become events of event-driven runs, through the real broker and Temporal."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer
from temporalio.testing import WorkflowEnvironment

from core.bus import ensure_topics
from core.contracts import RunInput, RunState
from core.settings import Settings
from core.specs import parse_spec
from tests.conftest import running_workers
from workers.bridge import SignalMessage, run_bridge
from workflows.event_driven import EventDrivenWorkflow

pytestmark = pytest.mark.integration


async def test_bridge_turns_topic_messages_into_run_events(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(SIGNALS_TOPIC=f"signals-{uuid.uuid4().hex[:8]}")
    await ensure_topics(settings.kafka_bootstrap, [settings.SIGNALS_TOPIC])
    cat = {"name": "h", "agent": {"backend": "shell", "command": "cat"}}
    spec = parse_spec(
        {"name": "bridge", "pattern": "event-driven", "handlers": [{"on": "push", "step": cat}]}
    )
    run_id = f"bridge-{uuid.uuid4().hex[:8]}"
    client = temporal_env.client
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    stop = asyncio.Event()
    async with running_workers(client, settings):
        handle = await client.start_workflow(
            EventDrivenWorkflow.run,
            RunInput(run_id=run_id, tenant="t", spec=spec, agents_queue=settings.agents_queue),
            id=run_id,
            task_queue=settings.ORCHESTRATION_QUEUE,
        )
        bridge = asyncio.create_task(run_bridge(client, settings, stop))
        await producer.start()
        try:
            events = [
                {"id": "1", "type": "push", "data": {"n": 1}},
                {"id": "1", "type": "push", "data": {"n": 1}},  # delivered twice
                {"id": "2", "type": "push", "data": {"n": 2}},
                {"id": "3", "type": "stop"},
            ]
            stray = {"run_id": "no-such-run", "event": {"id": "x", "type": "push"}}
            messages: list[bytes | SignalMessage] = [
                b"not json",
                SignalMessage.model_validate(stray),
                *(SignalMessage.model_validate({"run_id": run_id, "event": e}) for e in events),
            ]
            for m in messages:
                raw = m if isinstance(m, bytes) else m.model_dump_json().encode()
                await producer.send_and_wait(settings.SIGNALS_TOPIC, raw, key=run_id.encode())
            state: RunState = await asyncio.wait_for(handle.result(), 30)
        finally:
            stop.set()
            await producer.stop()
            await bridge
    assert state.status == "completed"
    assert state.events_handled == 2
    assert [s.result.output.text for s in state.steps if s.result] == ['{"n": 1}', '{"n": 2}']
