"""`/v1/runs` against a real Temporal server, worker, broker and database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from tests.conftest import api_client, running_workers

pytestmark = pytest.mark.integration


def pipeline(*commands: str, name: str = "api-test") -> dict[str, Any]:
    return {
        "name": name,
        "steps": [
            {"name": f"s{i}", "agent": {"backend": "shell", "command": c}}
            for i, c in enumerate(commands)
        ],
    }


@pytest.fixture
def settings(temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host)


async def test_start_then_read_a_completed_run(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    async with running_workers(temporal_env.client, settings), api_client(settings) as http:
        resp = await http.post("/v1/runs", json=pipeline("echo hi", "tr a-z A-Z"))
        assert resp.status_code == 202, resp.text
        accepted = resp.json()
        assert accepted["id"].startswith("api-test-")
        assert accepted["links"]["temporal_ui"].endswith(f"/workflows/{accepted['id']}")
        run = (await http.get(f"/v1/runs/{accepted['id']}", params={"wait": 20})).json()
    assert run["status"] == "completed"
    assert run["output"] == "HI\n"
    assert [s["status"] for s in run["steps"]] == ["completed", "completed"]
    assert run["pattern"] == "pipeline" and run["name"] == "api-test"
    assert run["closed_at"] is not None


async def test_running_run_shows_its_current_step_and_can_be_cancelled(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    async with running_workers(temporal_env.client, settings), api_client(settings) as http:
        run_id = (await http.post("/v1/runs", json=pipeline("sleep 60"))).json()["id"]
        run = await _until(
            http, run_id, lambda r: r["steps"] and r["steps"][0]["status"] == "running"
        )
        assert run["status"] == "running" and run["current_step"] == 0
        assert (await http.post(f"/v1/runs/{run_id}/cancel")).status_code == 202
        run = (await http.get(f"/v1/runs/{run_id}", params={"wait": 20})).json()
        assert run["status"] == "cancelled"
        again = await http.post(f"/v1/runs/{run_id}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["type"] == "conflict"


async def test_list_filters_by_status_and_pattern(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    async with running_workers(temporal_env.client, settings), api_client(settings) as http:
        ok = (await http.post("/v1/runs", json=pipeline("true", name="list-ok"))).json()["id"]
        bad = (await http.post("/v1/runs", json=pipeline("false", name="list-bad"))).json()["id"]
        for run_id in (ok, bad):
            await http.get(f"/v1/runs/{run_id}", params={"wait": 20})
        # Visibility is eventually consistent: poll until both runs are listed.
        for _ in range(100):
            failed = (await http.get("/v1/runs", params={"status": "failed"})).json()
            done = (
                await http.get("/v1/runs", params={"status": "completed", "pattern": "pipeline"})
            ).json()
            if bad in {r["id"] for r in failed} and ok in {r["id"] for r in done}:
                break
            await asyncio.sleep(0.1)
        # Pages over Temporal too: a run a page, the second after the first's cursor.
        first = await http.get("/v1/runs", params={"q": "LIST-", "limit": 1})
        cursor = first.headers["X-Acc-Next-Cursor"]
        second = await http.get("/v1/runs", params={"q": "list-", "limit": 1, "cursor": cursor})
        future = await http.get("/v1/runs", params={"since": "2999-01-01T00:00:00Z"})
    assert first.headers["X-Acc-List-Source"] == "temporal"
    assert [r["id"] for r in first.json() + second.json()] == [bad, ok]  # newest first
    assert "X-Acc-Next-Cursor" not in second.headers
    assert future.status_code == 200 and future.json() == []
    assert bad in {r["id"] for r in failed} and ok not in {r["id"] for r in failed}
    assert ok in {r["id"] for r in done} and bad not in {r["id"] for r in done}
    assert all(r["status"] == "failed" for r in failed)


async def test_large_output_is_served_from_the_artifact_store(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host,
        INLINE_OUTPUT_LIMIT=100,
    )
    async with running_workers(temporal_env.client, settings), api_client(settings) as http:
        spec = pipeline("python3 -c \"print('y' * 5000)\"")
        run_id = (await http.post("/v1/runs", json=spec)).json()["id"]
        run = (await http.get(f"/v1/runs/{run_id}", params={"wait": 20})).json()
        artifact = await http.get(f"/v1/artifacts/{run['output_artifact']}")
        missing = await http.get("/v1/artifacts/" + "0" * 64)
    assert len(run["output"]) == 100
    assert artifact.status_code == 200 and artifact.text == "y" * 5000 + "\n"
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"


async def test_unknown_run_is_404(settings: Settings) -> None:
    async with api_client(settings) as http:
        for resp in (await http.get("/v1/runs/nope-123"), await http.post("/v1/runs/nope/cancel")):
            assert resp.status_code == 404
            assert resp.json()["error"] == {
                "type": "not_found",
                "message": resp.json()["error"]["message"],
                "details": resp.json()["error"]["details"],
            }
            assert "not found" in resp.json()["error"]["message"]


async def _until(
    http: httpx.AsyncClient, run_id: str, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    for _ in range(200):
        run = (await http.get(f"/v1/runs/{run_id}")).json()
        if ready(run):
            return run
        await asyncio.sleep(0.05)
    raise AssertionError(f"run never reached the expected state: {run}")


async def test_the_temporal_web_ui_names_the_run_its_steps_and_what_it_waits_for(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    spec = pipeline("echo hi", "tr a-z A-Z", name="labelled")
    spec["description"] = "shows up in the Web UI"
    spec["steps"][1]["approval"] = {"reason": "check the greeting"}
    async with running_workers(temporal_env.client, settings), api_client(settings) as http:
        run_id = (await http.post("/v1/runs", json=spec)).json()["id"]
        await _until(http, run_id, lambda r: r["status"] == "waiting")
        handle = temporal_env.client.get_workflow_handle(run_id)
        metadata = await handle.query("__temporal_workflow_metadata")
        waiting = metadata.current_details
        await http.post(f"/v1/runs/{run_id}/approve")
        await http.get(f"/v1/runs/{run_id}", params={"wait": 20})
        desc = await handle.describe()
        history = await handle.fetch_history()
    assert await desc.static_summary() == "labelled · pipeline"
    details = await desc.static_details() or ""
    assert "shows up in the Web UI" in details and "`s0` (shell), `s1` (shell)" in details
    assert "waiting for approval of `s1`: check the greeting" in waiting
    assert "1 of 2 steps done" in waiting
    converter = temporal_env.client.data_converter.payload_converter
    summaries = [
        converter.from_payload(e.user_metadata.summary, str)
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "run_agent"
    ]
    assert summaries == ["s0 · shell · #0", "s1 · shell · #1"]


async def test_a_start_sent_again_with_its_idempotency_key_names_the_same_run(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    async with running_workers(temporal_env.client, settings), api_client(settings) as http:
        headers = {"Idempotency-Key": "retry-me-1"}
        first = await http.post("/v1/runs", json=pipeline("echo once"), headers=headers)
        assert first.status_code == 202
        await http.get(f"/v1/runs/{first.json()['id']}", params={"wait": 20})
        again = await http.post("/v1/runs", json=pipeline("echo once"), headers=headers)
        assert again.status_code == 202
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["status"] == "completed"  # not a second run, even after the end
        other = await http.post("/v1/runs", json=pipeline("echo other"), headers=headers)
        assert other.status_code == 409 and "Idempotency-Key" in other.json()["error"]["message"]
        listed = (await http.get("/v1/runs", params={"pattern": "pipeline"})).json()
        assert [r["id"] for r in listed].count(first.json()["id"]) <= 1


async def test_a_decision_answers_once_its_question_is_settled_though_another_follows(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    # Two jobs ask at once; the run puts one question at a time. Approving the first must
    # answer when it is settled, not when the second (taken up at once) is decided too.
    settings = settings.model_copy(update={"DECISION_TIMEOUT_SECONDS": 10.0})
    ask = {"backend": "shell", "command": "cat"}
    spec = {
        "name": "two-asks",
        "pattern": "scatter-gather",
        "tasks": ["t"],
        "max_concurrency": 2,
        "agents": [
            {"name": name, "agent": ask, "approval": {"reason": f"{name}?"}} for name in "xy"
        ],
    }
    async with running_workers(temporal_env.client, settings), api_client(settings) as http:
        resp = await http.post("/v1/runs", json=spec)
        assert resp.status_code == 202, resp.text
        run_id = resp.json()["id"]
        await _until(http, run_id, lambda r: r["status"] == "waiting")
        first = await http.post(f"/v1/runs/{run_id}/approve", json={"comment": "one"})
        assert first.status_code == 200, first.text
        assert first.json()["status"] == "waiting"  # the other job's question
        second = await http.post(f"/v1/runs/{run_id}/approve", json={"comment": "two"})
        assert second.status_code == 200, second.text
        run = (await http.get(f"/v1/runs/{run_id}", params={"wait": 20})).json()
    assert run["status"] == "completed", run


async def test_a_run_that_ends_while_it_is_acted_on_answers_409_not_502(
    temporal_env: WorkflowEnvironment, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second cancel sees the run still running, then the first one ends it before the
    # termination reaches Temporal, which refuses it ("workflow execution already
    # completed"): the answer says how the run ended.
    from api.services import control

    real = control.running
    seen: list[Any] = []

    async def seen_running_before(*args: Any) -> Any:
        if len(seen) != 1:
            seen.append(None)
            return await real(*args)
        seen.append(await real(*args))
        handle, _ = seen[1]
        with contextlib.suppress(WorkflowFailureError):
            await handle.result()  # the first cancel ends it meanwhile
        return seen[1]

    monkeypatch.setattr(control, "running", seen_running_before)
    async with running_workers(temporal_env.client, settings), api_client(settings) as http:
        run_id = (await http.post("/v1/runs", json=pipeline("sleep 60"))).json()["id"]
        await _until(http, run_id, lambda r: r["steps"] and r["steps"][0]["status"] == "running")
        assert (await http.post(f"/v1/runs/{run_id}/cancel")).status_code == 202
        resp = await http.post(f"/v1/runs/{run_id}/cancel")
    assert resp.status_code == 409, resp.text
    assert resp.json()["error"]["details"]["status"] == "cancelled"
