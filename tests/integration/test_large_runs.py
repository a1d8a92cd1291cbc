"""Runs larger than one history should hold, at a size that fits CI: a fan-out split into
batch children (the batch size lowered so a few hundred jobs make several batches), and a
supervisor that continues as new (the history bound lowered), both with the API, the
timeline and the replay of a small run."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from core.settings import Settings
from tests.conftest import api_client, running_workers
from workflows import WORKFLOWS

pytestmark = pytest.mark.integration
ECHO_TASK = {
    "backend": "shell",
    "command": ["python3", "-c", "import sys; print(sys.stdin.read())"],
}


@dataclass
class Api:
    http: httpx.AsyncClient
    env: WorkflowEnvironment

    async def run(self, spec: dict[str, Any], wait: float = 60) -> dict[str, Any]:
        resp = await self.http.post("/v1/runs", json=spec)
        assert resp.status_code == 202, resp.text
        view: dict[str, Any] = (
            await self.http.get(f"/v1/runs/{resp.json()['id']}", params={"wait": wait})
        ).json()
        return view

    async def replays(self, run_id: str) -> None:
        handle = self.env.client.get_workflow_handle(run_id)
        history = WorkflowHistory.from_json(run_id, (await handle.fetch_history()).to_json_dict())
        replayer = Replayer(workflows=list(WORKFLOWS), data_converter=pydantic_data_converter)
        await replayer.replay_workflow(history)


@pytest.fixture
async def api(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> AsyncIterator[Api]:
    settings = make_settings(
        TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host,
        FAN_OUT_BATCH=40,
        HISTORY_EVENTS=60,
    )
    async with running_workers(temporal_env.client, settings), api_client(settings) as http:
        yield Api(http, temporal_env)


async def test_a_fan_out_larger_than_a_batch_runs_in_batch_children(api: Api) -> None:
    tasks = [f"task {n}" for n in range(100)]
    spec = {
        "name": "wide",
        "pattern": "scatter-gather",
        "tasks": tasks,
        "max_concurrency": 20,
        "agents": [{"name": "echo", "agent": ECHO_TASK}],
    }
    view = await api.run(spec)
    assert view["status"] == "completed", view
    # The run's own steps are its three batches; every job's index follows its batch's.
    assert [(s["name"], s["kind"], s["status"]) for s in view["steps"]] == [
        (f"batch-{n}", "child", "completed") for n in range(3)
    ]
    assert [s["index"] for s in view["steps"]] == [0, 41, 82]
    assert "100 of 100 jobs succeeded in 3 batches" in " ".join(view["notes"])
    collected = json.loads(
        (await api.http.get(f"/v1/artifacts/{view['output_artifact']}")).text
        if view["output_artifact"]
        else view["output"]
    )
    assert [c["output"].strip() for c in collected] == tasks  # in task order, whole
    timeline = (await api.http.get(f"/v1/runs/{view['id']}/timeline")).json()
    jobs = [e for e in timeline["entries"] if e["kind"] == "step" and e["name"] == "echo"]
    assert len(jobs) == 100 and {e["status"] for e in jobs} == {"completed"}
    await api.replays(view["id"])


async def test_a_batched_majority_and_quorum(api: Api) -> None:
    vote = {
        "backend": "shell",
        "command": [
            "python3",
            "-c",
            "import sys; t = sys.stdin.read(); print('yes' if int(t.split()[1]) % 4 else 'no')",
        ],
    }
    spec = {
        "name": "votes",
        "pattern": "scatter-gather",
        "reducer": "majority",
        "tasks": [f"t {n}" for n in range(90)],
        "max_concurrency": 30,
        "agents": [{"name": "voter", "agent": vote}],
    }
    view = await api.run(spec)
    assert view["status"] == "completed", view
    assert view["output"].strip() == "yes" and view["quality"] == pytest.approx(67 / 90, abs=1e-3)


async def test_a_long_supervisor_continues_as_new_and_keeps_its_state(api: Api) -> None:
    # The reviewer passes only the fifth iteration; 60 history events hold about two.
    counter = (
        "import pathlib; p = pathlib.Path('reviews'); n = int(p.read_text()) + 1 if "
        "p.exists() else 1; p.write_text(str(n)); print(1.0 if n >= 5 else 0.1)"
    )
    spec = {
        "name": "long-loop",
        "pattern": "supervisor",
        "input": "build it",
        "max_iterations": 10,
        "manager": {"name": "plan", "agent": {"backend": "shell", "command": ["echo", "one"]}},
        "workers": {"default": {"name": "work", "agent": {"backend": "shell", "command": "cat"}}},
        "reviewer": {
            "name": "review",
            "agent": {"backend": "shell", "command": ["python3", "-c", counter]},
        },
    }
    view = await api.run(spec, wait=60)
    assert view["status"] == "completed", view
    notes = " ".join(view["notes"])
    assert "iteration-1: quality 0.10" in notes and "iteration-5: quality 1.00" in notes
    assert view["quality"] == 1.0
    # The last history holds only the last iterations; indexes went on across histories.
    assert view["steps"][0]["index"] > 0
    timeline = (await api.http.get(f"/v1/runs/{view['id']}/timeline")).json()
    reviews = [e for e in timeline["entries"] if e["kind"] == "step" and e["name"] == "review"]
    assert len(reviews) == 5
    indexes = [e["index"] for e in timeline["entries"] if e["kind"] == "step"]
    assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)
    await api.replays(view["id"])
