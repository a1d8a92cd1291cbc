"""Remote steps across pool nodes: `acc pool` processes sharing Redis, agents connected to
one node or another, a worker that reaches each through the registry; and a node killed
with SIGKILL while its agent holds a step."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from core import db
from core.auth import ApiKeys
from core.contracts import WORKFLOW_OF_PATTERN, RunInput, RunState
from core.settings import Settings
from core.specs import parse_spec
from tests.conftest import running_workers
from tests.support.pool import connected, pool_nodes, run_events, shell_agent

pytestmark = pytest.mark.integration


async def _settings_and_token(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> tuple[Settings, str]:
    settings = make_settings(
        TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host,
        AGENTS_QUEUE=None,
        SANDBOX="off",
    )
    engine = db.create_engine(settings)
    await db.migrate(engine, settings.DATABASE_SCHEMA)
    _, token = await ApiKeys(engine).create("laptop", settings.TENANT, ["agents:connect"])
    await engine.dispose()
    return settings, token


async def _start(
    temporal_env: WorkflowEnvironment, settings: Settings, spec: dict[str, Any]
) -> WorkflowHandle[Any, RunState]:
    run_id = f"pool-{uuid.uuid4().hex[:8]}"
    return await temporal_env.client.start_workflow(
        WORKFLOW_OF_PATTERN["pipeline"],
        RunInput(
            run_id=run_id,
            tenant=settings.TENANT,
            spec=parse_spec(spec),
            agents_queue=settings.agents_queue,
        ),
        id=run_id,
        task_queue=settings.ORCHESTRATION_QUEUE,
        result_type=RunState,
    )


async def test_steps_reach_agents_held_by_different_nodes(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings, token = await _settings_and_token(temporal_env, make_settings)
    with pool_nodes(settings, tmp_path, "node-a", "node-b") as (a, b):
        upper = shell_agent(settings, [a.url], token, "upper-on-a", ["upper"], command="tr a-z A-Z")
        count = shell_agent(settings, [b.url], token, "count-on-b", ["count"], command="wc -c")
        async with connected(upper, count), running_workers(temporal_env.client, settings):
            spec = {
                "name": "two-nodes",
                "input": "hello pool",
                "steps": [
                    {"name": "shout", "agent": {"backend": "remote", "capability": "upper"}},
                    {"name": "count", "agent": {"backend": "remote", "capability": "count"}},
                ],
            }
            handle = await _start(temporal_env, settings, spec)
            state = await handle.result()
            events = await run_events(settings, handle.id)
    assert [s.result.output.text.strip() for s in state.steps if s.result] == ["HELLO POOL", "10"]
    done = [(e.step, e.source, e.data["agent"]) for e in events if e.type == "step.completed"]
    assert ("shout", "pool/node-a", "upper-on-a") in done
    assert ("count", "pool/node-b", "count-on-b") in done


async def test_a_step_on_a_killed_node_finishes_once_on_one_agent(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """SIGKILL the node whose agent runs the step: the agent stops it, the attempt times out,
    the retry runs on an agent of the surviving node, and the step's work happens once."""
    settings, token = await _settings_and_token(temporal_env, make_settings)
    marks = tmp_path / "marks"
    work = (
        f"python3 -c \"import time; time.sleep(3); open('{marks}', 'a').write('done\\n'); "
        "print('finished')\""
    )
    with pool_nodes(settings, tmp_path, "node-a", "node-b") as (a, b):
        # Both idle: the dispatcher picks by name on a tie, so agent-1 (on node A) gets it.
        working = asyncio.Event()

        def seen(kind: str, _: dict[str, Any]) -> None:
            if kind == "task":
                working.set()

        first = shell_agent(settings, [a.url, b.url], token, "agent-1", ["slow"], seen)
        second = shell_agent(settings, [b.url], token, "agent-2", ["slow"])
        async with connected(first, second), running_workers(temporal_env.client, settings):
            spec = {
                "name": "kill-a-node",
                "steps": [
                    {"name": "slow", "agent": {"backend": "remote", "capability": "slow"}},
                    {"name": "after", "agent": {"backend": "shell", "command": "echo next"}},
                ],
            }
            spec["steps"][0]["agent"]["prompt"] = work  # type: ignore[index]
            handle = await _start(temporal_env, settings, spec)
            await asyncio.wait_for(working.wait(), 30)
            await asyncio.sleep(1)  # the command is running on agent-1
            os.kill(a.proc.pid, signal.SIGKILL)
            state = await asyncio.wait_for(handle.result(), 90)
            events = await run_events(settings, handle.id)
    assert state.status == "completed"
    assert state.steps[0].result is not None
    assert state.steps[0].result.output.text.strip() == "finished"
    assert marks.read_text() == "done\n"  # the killed node's attempt never finished its work
    completed = [e for e in events if e.type == "step.completed" and e.step == "slow"]
    assert len(completed) == 1 and completed[0].source == "pool/node-b"
    assert completed[0].data["attempt"] >= 2


async def test_a_draining_node_lets_its_step_finish_then_its_agent_moves(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """SIGTERM a node mid-step: it takes no new work, the agent finishes the step there,
    then reconnects to the other node; the node exits cleanly."""
    settings, token = await _settings_and_token(temporal_env, make_settings)
    seen: list[str] = []
    working = asyncio.Event()

    def note(kind: str, data: dict[str, Any]) -> None:
        seen.append(f"{kind}:{data.get('node', '')}")
        if kind == "task":
            working.set()

    with pool_nodes(settings, tmp_path, "node-a", "node-b") as (a, b):
        agent = shell_agent(
            settings, [a.url, b.url], token, "agent-1", ["slow"], note, command="sleep 2"
        )
        async with connected(agent), running_workers(temporal_env.client, settings):
            spec = {
                "name": "drain",
                "steps": [{"name": "slow", "agent": {"backend": "remote", "capability": "slow"}}],
            }
            handle = await _start(temporal_env, settings, spec)
            await asyncio.wait_for(working.wait(), 30)
            a.proc.send_signal(signal.SIGTERM)
            state = await asyncio.wait_for(handle.result(), 60)
            events = await run_events(settings, handle.id)
            assert await asyncio.to_thread(a.proc.wait, 30) == 0
            async with asyncio.timeout(30):
                while "registered:node-b" not in seen:
                    await agent.connected.wait()
                    await asyncio.sleep(0.1)
    assert state.status == "completed"
    completed = [e for e in events if e.type == "step.completed"]
    assert [(e.source, e.data["attempt"]) for e in completed] == [("pool/node-a", 1)]
    assert seen.index("reconnect:") < seen.index("registered:node-b")


async def test_cancelling_a_run_stops_its_remote_agent(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings, token = await _settings_and_token(temporal_env, make_settings)
    working, stopped = asyncio.Event(), asyncio.Event()

    def note(kind: str, _: dict[str, Any]) -> None:
        {"task": working, "cancelled": stopped}.get(kind, asyncio.Event()).set()

    with pool_nodes(settings, tmp_path, "node-a") as (a,):
        agent = shell_agent(settings, [a.url], token, "agent-1", ["slow"], note, command="sleep 60")
        async with connected(agent), running_workers(temporal_env.client, settings):
            spec = {
                "name": "cancel",
                "steps": [{"name": "slow", "agent": {"backend": "remote", "capability": "slow"}}],
            }
            handle = await _start(temporal_env, settings, spec)
            await asyncio.wait_for(working.wait(), 30)
            await handle.cancel()
            await asyncio.wait_for(stopped.wait(), 15)
            assert not agent.tasks
            with pytest.raises(WorkflowFailureError):
                await asyncio.wait_for(handle.result(), 30)
