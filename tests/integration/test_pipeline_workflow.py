"""The pipeline workflow on a real Temporal server with the real worker, bus and database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from core.bus import build_consumer
from core.contracts import Decision, RunInput, RunState
from core.events import ENVELOPE_VERSION, Event
from core.settings import Settings
from core.specs import RunSpec, parse_spec
from tests.conftest import running_workers
from workflows.pipeline import PipelineWorkflow

pytestmark = pytest.mark.integration


def spec(*commands: str | list[str], input: str = "", **step: object) -> RunSpec:
    return parse_spec(
        {
            "name": "test-pipeline",
            "input": input,
            "steps": [
                {"name": f"s{i}", "agent": {"backend": "shell", "command": c}, **step}
                for i, c in enumerate(commands)
            ],
        }
    )


async def start(env: WorkflowEnvironment, settings: Settings, run_spec: RunSpec):  # type: ignore[no-untyped-def]
    run_id = f"test-{uuid.uuid4().hex[:10]}"
    return await env.client.start_workflow(
        PipelineWorkflow.run,
        RunInput(run_id=run_id, tenant="t1", spec=run_spec, agents_queue=settings.agents_queue),
        id=run_id,
        task_queue=settings.ORCHESTRATION_QUEUE,
    )


async def test_steps_run_in_order_and_each_reads_the_previous_output(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    async with running_workers(temporal_env.client, settings):
        handle = await start(
            temporal_env, settings, spec("tr a-z A-Z", ["sed", "s/HELLO/BYE/"], input="hello acc")
        )
        state: RunState = await handle.result()
    assert state.status == "completed"
    assert [s.status for s in state.steps] == ["completed", "completed"]
    assert state.steps[0].result is not None and state.steps[0].result.output.text == "HELLO ACC"
    assert state.output is not None and state.output.text == "BYE ACC"
    assert all(s.started_at and s.ended_at and s.started_at <= s.ended_at for s in state.steps)


async def test_failed_step_fails_the_run_and_leaves_later_steps_pending(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    async with running_workers(temporal_env.client, settings):
        handle = await start(
            temporal_env, settings, spec("echo one", "ls /no/such/path", "echo three")
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        state = await handle.query(PipelineWorkflow.state)
    assert "step 's1' failed" in str(failure.value.cause)
    assert [s.status for s in state.steps] == ["completed", "failed"]
    assert state.pending == ["s2"]
    assert state.status == "failed"
    assert "ls exited with code 2" in (state.steps[1].error or "")


async def test_a_command_outside_the_allow_list_is_not_retried(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(SHELL_ALLOWED_COMMANDS=("echo",))
    async with running_workers(temporal_env.client, settings):
        handle = await start(
            temporal_env, settings, spec("rm -rf /tmp/x", retry={"max_attempts": 5})
        )
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        state = await handle.query(PipelineWorkflow.state)
    assert "not in ACC_SHELL_ALLOWED_COMMANDS" in (state.steps[0].error or "")
    history = await handle.fetch_history()
    attempts = [e for e in history.events if e.HasField("activity_task_started_event_attributes")]
    assert attempts[0].activity_task_started_event_attributes.attempt == 1
    assert len(attempts) == 1


async def test_cancel_kills_the_running_step_and_its_children(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    # The step starts a grandchild and waits; cancelling must kill both. The grandchild is
    # found on the host by its arguments (inside a sandbox its pid is the sandbox's own).
    nap = f"300.{uuid.uuid4().int % 10**6}"
    script = f"import subprocess; subprocess.Popen(['sleep', '{nap}']).wait()"
    async with running_workers(temporal_env.client, settings):
        handle = await start(temporal_env, settings, spec(["python3", "-c", script], "echo never"))
        for _ in range(200):
            if _sleeping(nap):
                break
            await asyncio.sleep(0.05)
        assert _sleeping(nap)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        state = await handle.query(PipelineWorkflow.state)
    assert state.status == "cancelled"
    assert [s.status for s in state.steps] == ["cancelled"]
    assert state.pending == ["s1"]
    for _ in range(40):
        if not _sleeping(nap):
            break
        await asyncio.sleep(0.05)
    assert not _sleeping(nap)


def _sleeping(nap: str) -> list[int]:
    """Host pids of `sleep <nap>` processes."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and (entry / "cmdline").read_bytes() == f"sleep\0{nap}\0".encode()
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


async def test_large_output_is_stored_as_an_artifact(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(INLINE_OUTPUT_LIMIT=1000)
    big = ["python3", "-c", "print('x' * 50000)"]
    async with running_workers(temporal_env.client, settings):
        handle = await start(temporal_env, settings, spec(big, "wc -c"))
        state: RunState = await handle.result()
    first = state.steps[0].result
    assert first is not None and first.output.artifact_id is not None
    assert first.output.size == 50001 and len(first.output.text) == 1000
    # The next step read the whole output from the store, not the inline preview.
    assert state.output is not None and state.output.text.strip() == "50001"


async def test_lifecycle_events_are_published_in_order(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    async with running_workers(temporal_env.client, settings):
        handle = await start(temporal_env, settings, spec("echo a", "cat"))
        await handle.result()
    consumer = build_consumer(settings.kafka_bootstrap, settings.EVENTS_TOPIC, group_id=None)
    await consumer.start()
    try:
        events: list[Event] = []
        async with asyncio.timeout(15):
            while len(events) < 5:
                batch = await consumer.getmany(timeout_ms=200)
                events += [Event.decode(m.value) for msgs in batch.values() for m in msgs]
    finally:
        await consumer.stop()
    # run.started comes from the API, which this test bypasses.
    assert [(e.type, e.step) for e in events] == [
        ("step.started", "s0"),
        ("step.completed", "s0"),
        ("step.started", "s1"),
        ("step.completed", "s1"),
        ("run.completed", None),
    ]
    assert {e.run_id for e in events} == {handle.id}
    assert all(e.version == ENVELOPE_VERSION and e.tenant == "t1" for e in events)
    assert all(e.agent == "shell" for e in events if e.step is not None)


async def test_waiting_and_end_events_tell_what_the_run_needs_and_how_it_ended(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    gated = parse_spec(
        {
            "name": "gated",
            "steps": [
                {
                    "name": "a",
                    "agent": {"backend": "shell", "command": "echo x"},
                    "approval": {"reason": "check first"},
                }
            ],
        }
    )
    async with running_workers(temporal_env.client, settings):
        handle = await start(temporal_env, settings, gated)
        for _ in range(200):
            if (await handle.query(PipelineWorkflow.state)).waiting is not None:
                break
            await asyncio.sleep(0.05)
        await handle.execute_update(PipelineWorkflow.decide, Decision(approve=True, by="t"))
        await handle.result()
    consumer = build_consumer(settings.kafka_bootstrap, settings.EVENTS_TOPIC, group_id=None)
    await consumer.start()
    try:
        events: list[Event] = []
        async with asyncio.timeout(15):
            while not any(e.type == "run.completed" for e in events):
                batch = await consumer.getmany(timeout_ms=200)
                events += [Event.decode(m.value) for msgs in batch.values() for m in msgs]
    finally:
        await consumer.stop()
    waiting = next(e for e in events if e.type == "run.waiting")
    assert waiting.data["waiting"]["kind"] == "approval"
    assert waiting.data["waiting"]["reason"] == "check first"
    completed = next(e for e in events if e.type == "run.completed")
    assert completed.data["quality"] == 1.0 and completed.data["pattern"] == "pipeline"
