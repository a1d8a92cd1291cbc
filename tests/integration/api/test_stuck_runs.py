"""A run whose workflow task keeps failing is `stuck`, says why, refuses decisions, and a
cancel ends it (terminated, the reason in its history). Cancel ends a healthy run too."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from core import db
from core import redis as redis_client
from core.bus import EventBus
from core.contracts import WORKFLOW_OF_PATTERN, RunInput
from core.settings import Settings
from core.specs import ApprovalSpec, parse_spec
from core.temporal import TENANT
from tests.conftest import api_client, running_workers
from workers.main import build_workers

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]) -> Settings:
    target = temporal_env.client.service_client.config.target_host
    return make_settings(TEMPORAL_ADDRESS=target, CANCEL_GRACE_SECONDS=1)


async def test_a_run_whose_workflow_task_fails_is_stuck_and_a_cancel_ends_it(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    # What the API refuses (an approval timeout past its bound) reaches the workflow only
    # through a client that skips validation: its workflow task fails every attempt.
    spec = parse_spec(
        {
            "name": "stuck",
            "steps": [
                {"name": "s", "agent": {"backend": "shell", "command": "echo hi"}, "approval": {}}
            ],
        }
    )
    spec.steps[0].approval = ApprovalSpec.model_construct(reason="r", timeout_seconds=1e300)
    run_id = f"stuck-{uuid.uuid4().hex[:8]}"
    engine = db.create_engine(settings)
    await db.migrate(engine, settings.DATABASE_SCHEMA)
    bus, redis = EventBus.from_settings(settings), redis_client.connect(settings)
    await bus.start()
    # A production worker: a workflow bug leaves the task retrying (no failure types set).
    workers = build_workers(temporal_env.client, settings, bus, engine, redis)
    try:
        async with AsyncExitStack() as stack:
            for worker in workers:
                await stack.enter_async_context(worker)
            http = await stack.enter_async_context(api_client(settings))
            tenant = settings.TENANT  # the API's key belongs to it: the run must too
            await temporal_env.client.start_workflow(
                WORKFLOW_OF_PATTERN["pipeline"],
                RunInput(
                    run_id=run_id, tenant=tenant, spec=spec, agents_queue=settings.agents_queue
                ),
                id=run_id,
                task_queue=settings.ORCHESTRATION_QUEUE,
                search_attributes=TypedSearchAttributes([SearchAttributePair(TENANT, tenant)]),
            )
            view = await _until(http, run_id, lambda v: v["status"] == "stuck")
            assert "approval.timeout_seconds" in view["error"]  # the cause, not just "failed"
            approve = await http.post(f"/v1/runs/{run_id}/approve")
            assert approve.status_code == 409 and "stuck" in approve.json()["error"]["message"]
            assert (await http.post(f"/v1/runs/{run_id}/cancel")).status_code == 202
            desc = await temporal_env.client.get_workflow_handle(run_id).describe()
            assert desc.status == WorkflowExecutionStatus.TERMINATED
    finally:
        await bus.stop()
        await redis.aclose()
        await engine.dispose()


async def test_a_cancelled_run_that_does_not_stop_is_terminated_after_the_grace(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    # The step ignores SIGTERM for long: the run cannot end within the 1 s grace.
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    spec = {
        "name": "stubborn",
        "steps": [
            {"name": "s", "agent": {"backend": "shell", "command": ["python3", "-c", stubborn]}}
        ],
    }
    async with running_workers(temporal_env.client, settings), api_client(settings) as http:
        run_id = (await http.post("/v1/runs", json=spec)).json()["id"]
        await _until(http, run_id, lambda v: bool(v["steps"]))
        assert (await http.post(f"/v1/runs/{run_id}/cancel")).status_code == 202
        handle = temporal_env.client.get_workflow_handle(run_id)
        for _ in range(100):
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                break
            await asyncio.sleep(0.1)
        status = (await handle.describe()).status
        assert status in (WorkflowExecutionStatus.CANCELED, WorkflowExecutionStatus.TERMINATED)


async def test_a_decision_no_worker_takes_is_a_503_within_the_bound_not_a_hang(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    # No worker serves the queue: the run is accepted but nothing ever takes its next task.
    settings = settings.model_copy(update={"DECISION_TIMEOUT_SECONDS": 1.0})
    spec = {
        "name": "nobody",
        "steps": [{"name": "s", "agent": {"backend": "shell", "command": "echo"}}],
    }
    async with api_client(settings) as http:
        run_id = (await http.post("/v1/runs", json=spec)).json()["id"]
        resp = await asyncio.wait_for(http.post(f"/v1/runs/{run_id}/approve"), timeout=30)
        assert resp.status_code == 503
        error = resp.json()["error"]
        assert "did not take the decision within 1s" in error["message"]
        assert error["details"] == {"id": run_id, "waited_seconds": 1.0}
        await temporal_env.client.get_workflow_handle(run_id).terminate()


async def _until(http: Any, run_id: str, ready: Callable[[dict[str, Any]], bool]) -> Any:
    view: Any = None
    for _ in range(200):
        view = (await http.get(f"/v1/runs/{run_id}")).json()
        if ready(view):
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"never reached: {view}")
