"""Safe rollouts of workflow code with Temporal Worker Versioning, on the local dev server:
a run started on version 1 completes on version 1 after version 2 became current, while a
run started after that runs on version 2."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from tests.conftest import api_client, running_workers

pytestmark = pytest.mark.integration


def _spec(name: str, approval: bool = False) -> dict[str, Any]:
    step: dict[str, Any] = {"name": "greet", "agent": {"backend": "shell", "command": "echo ok"}}
    if approval:
        step["approval"] = {"reason": "hold the run while version 2 rolls out"}
    return {"name": name, "steps": [step]}


async def _make_current(client: Client, deployment: str, build_id: str) -> None:
    """What `temporal worker deployment set-current-version` does; the version exists once
    its workers have polled, so try until then."""
    request = SetWorkerDeploymentCurrentVersionRequest(
        namespace=client.namespace, deployment_name=deployment, build_id=build_id
    )
    for _ in range(100):
        try:
            await client.workflow_service.set_worker_deployment_current_version(request)
            return
        except RPCError:
            await asyncio.sleep(0.2)
    pytest.fail(f"version {deployment}.{build_id} never became settable")


async def _build_id(client: Client, run_id: str) -> str:
    info = (await client.get_workflow_handle(run_id).describe()).raw_description
    build_id: str = info.workflow_execution_info.versioning_info.deployment_version.build_id
    return build_id


async def _until_status(http: Any, run_id: str, status: str) -> dict[str, Any]:
    for _ in range(200):
        run: dict[str, Any] = (await http.get(f"/v1/runs/{run_id}")).json()
        if run["status"] == status:
            return run
        await asyncio.sleep(0.05)
    pytest.fail(f"run {run_id} never {status}: {run}")


async def test_a_run_finishes_on_the_version_that_started_it(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    client = temporal_env.client
    deployment = f"acc-{uuid.uuid4().hex[:8]}"
    address = client.service_client.config.target_host

    def version(build_id: str) -> Settings:
        return make_settings(
            TEMPORAL_ADDRESS=address, WORKER_DEPLOYMENT=deployment, WORKER_BUILD_ID=build_id
        )

    v1, v2 = version("v1"), version("v2")
    async with running_workers(client, v1), api_client(v1) as http:
        await _make_current(client, deployment, "v1")
        old = (await http.post("/v1/runs", json=_spec("old", approval=True))).json()["id"]
        await _until_status(http, old, "waiting")
        assert await _build_id(client, old) == "v1"

        async with running_workers(client, v2):
            await _make_current(client, deployment, "v2")
            new = (await http.post("/v1/runs", json=_spec("new"))).json()["id"]
            finished = (await http.get(f"/v1/runs/{new}", params={"wait": 30})).json()
            assert finished["status"] == "completed", finished
            assert await _build_id(client, new) == "v2"

            # the old run, pinned to v1, is approved now and completes on v1's workers
            assert (await http.post(f"/v1/runs/{old}/approve", json={})).status_code == 200
            done = (await http.get(f"/v1/runs/{old}", params={"wait": 30})).json()
            assert done["status"] == "completed", done
            assert await _build_id(client, old) == "v1"
    history = await client.get_workflow_handle(old).fetch_history()
    completed_by = {
        e.workflow_task_completed_event_attributes.deployment_version.build_id
        for e in history.events
        if e.HasField("workflow_task_completed_event_attributes")
    }
    assert completed_by == {"v1"}  # every one of its workflow tasks ran on version 1
