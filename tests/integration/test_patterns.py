"""Every coordination pattern through the real API, workers, Temporal, broker and database,
with real shell agents (python3 one-liners standing for agents that decide things)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from tests.conftest import api_client, running_workers

pytestmark = pytest.mark.integration


def py(code: str) -> dict[str, Any]:
    """A shell agent running a python3 one-liner (reads the step input on stdin)."""
    return {"backend": "shell", "command": ["python3", "-c", code]}


def echo(text: str) -> dict[str, Any]:
    return {"backend": "shell", "command": ["echo", text]}


@pytest.fixture
async def http(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host)
    async with running_workers(temporal_env.client, settings), api_client(settings) as client:
        yield client


async def run(http: httpx.AsyncClient, spec: dict[str, Any]) -> dict[str, Any]:
    resp = await http.post("/v1/runs", json=spec)
    assert resp.status_code == 202, resp.text
    return (await http.get(f"/v1/runs/{resp.json()['id']}", params={"wait": 30})).json()


async def until(
    http: httpx.AsyncClient, run_id: str, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    for _ in range(300):
        view = (await http.get(f"/v1/runs/{run_id}")).json()
        if ready(view):
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"run never got there: {view}")


async def test_pipeline_templates_pick_earlier_outputs(http: httpx.AsyncClient) -> None:
    view = await run(
        http,
        {
            "name": "tpl",
            "input": "world",
            "steps": [
                {"name": "a", "agent": echo("first")},
                {
                    "name": "b",
                    "agent": py("import sys; print(sys.stdin.read().upper())"),
                    "input": "{{run.input}} + {{steps.a.output}}",
                },
            ],
        },
    )
    assert view["status"] == "completed", view
    assert view["output"].strip() == "WORLD + FIRST"
    assert view["quality"] == 1.0


async def test_an_unknown_template_key_fails_the_step_without_retrying(
    http: httpx.AsyncClient,
) -> None:
    view = await run(
        http,
        {
            "name": "tpl-bad",
            "steps": [
                {
                    "name": "a",
                    "agent": echo("x"),
                    "input": "{{steps.nope.output}}",
                    "retry": {"max_attempts": 5},
                },
            ],
        },
    )
    assert view["status"] == "failed"
    assert "unknown template key {{steps.nope.output}}" in view["error"]


async def test_scatter_gather_majority_and_quorum(http: httpx.AsyncClient) -> None:
    view = await run(
        http,
        {
            "name": "vote",
            "pattern": "scatter-gather",
            "reducer": "majority",
            "agents": [
                {"name": "a1", "agent": echo("yes")},
                {"name": "a2", "agent": echo("yes")},
                {"name": "a3", "agent": echo("no")},
            ],
        },
    )
    assert view["status"] == "completed", view
    assert view["output"] == "yes" and view["quality"] == pytest.approx(0.6667)
    assert len(view["steps"]) == 3

    short = await run(
        http,
        {
            "name": "quorum",
            "pattern": "scatter-gather",
            "quorum": 2,
            "agents": [
                {"name": "ok", "agent": echo("x")},
                {"name": "bad1", "agent": {"backend": "shell", "command": "false"}},
                {"name": "bad2", "agent": {"backend": "shell", "command": "false"}},
            ],
        },
    )
    assert short["status"] == "failed"
    assert "quorum not reached: 1 of 3 succeeded, 2 needed" in short["error"]


async def test_scatter_gather_best_score_uses_the_scorer(http: httpx.AsyncClient) -> None:
    view = await run(
        http,
        {
            "name": "best",
            "pattern": "scatter-gather",
            "reducer": "best_score",
            "tasks": ["t"],
            "max_concurrency": 1,
            "agents": [
                {"name": "terse", "agent": echo("ok")},
                {"name": "thorough", "agent": echo("a complete and careful answer")},
            ],
            "scorer": {
                "name": "judge",
                "agent": py("import sys; print(min(1, len(sys.stdin.read()) / 40))"),
            },
        },
    )
    assert view["status"] == "completed", view
    assert view["output"].strip() == "a complete and careful answer"
    assert view["quality"] == pytest.approx(30 / 40)


VOTE_FOR_B = (
    "import json, sys; b = json.load(sys.stdin); "
    "print(next(p['id'] for p in b['proposals'] if p['text'] == 'B'))"
)
VOTE_OWN = (
    "import json, sys; b = json.load(sys.stdin); "
    "print(next(p['id'] for p in b['proposals'] if p['by'] == '{me}'))"
)


async def test_consensus_agrees_by_majority_and_records_rounds(http: httpx.AsyncClient) -> None:
    participants = [
        {
            "name": n,
            "propose": {"name": "propose", "agent": echo(t)},
            "vote": {"name": "vote", "agent": py(VOTE_FOR_B)},
        }
        for n, t in (("ann", "A"), ("bob", "B"), ("cy", "B"))
    ]
    view = await run(http, {"name": "agree", "pattern": "consensus", "participants": participants})
    assert view["status"] == "completed", view
    record = json.loads(view["output"])
    assert record["agreed"] is True and record["winner"]["text"] == "B"
    assert record["reason"] == "majority reached in round 1"
    assert view["quality"] == 1.0


async def test_consensus_without_agreement_says_why(http: httpx.AsyncClient) -> None:
    participants = [
        {
            "name": n,
            "propose": {"name": "propose", "agent": echo(n.upper())},
            "vote": {"name": "vote", "agent": py(VOTE_OWN.format(me=n))},
        }
        for n in ("ann", "bob", "cy")
    ]
    view = await run(
        http,
        {"name": "split", "pattern": "consensus", "max_rounds": 2, "participants": participants},
    )
    assert view["status"] == "completed", view
    record = json.loads(view["output"])
    assert record["agreed"] is False and record["winner"] is None
    assert record["reason"] == "no majority agreement after 2 round(s)"
    assert [r["round"] for r in record["rounds"]] == [1, 2]
    assert view["quality"] == 0.0


UNDO = "import sys; print('undo', sys.stdin.read().strip())"


async def test_saga_compensates_in_reverse_and_reports_a_failed_compensation(
    http: httpx.AsyncClient,
) -> None:
    view = await run(
        http,
        {
            "name": "trip",
            "pattern": "saga",
            "steps": [
                {
                    "name": "flight",
                    "agent": echo("FL-1"),
                    "compensate": {"name": "cancel-flight", "agent": py(UNDO)},
                },
                {
                    "name": "hotel",
                    "agent": echo("HT-2"),
                    "compensate": {
                        "name": "cancel-hotel",
                        "agent": {"backend": "shell", "command": "false"},
                    },
                },
                {"name": "car", "agent": {"backend": "shell", "command": "false"}},
            ],
        },
    )
    assert view["status"] == "failed"
    assert "step 'car' failed" in view["error"]
    assert "compensation failed: hotel" in view["error"]
    names = [s["name"] for s in view["steps"]]
    assert names == ["flight", "hotel", "car", "cancel-hotel", "cancel-flight"]
    assert view["steps"][-1]["result"]["output"]["text"].strip() == "undo FL-1"
    assert view["notes"][:2] == [
        "compensation of hotel failed: step 'cancel-hotel' failed: false exited with code 1",
        "compensated flight",
    ]
    assert view["quality"] == 0.0


async def test_a_saga_rolled_back_in_full_still_scores_as_failed(http: httpx.AsyncClient) -> None:
    undo = {"name": "undo", "agent": py(UNDO)}
    view = await run(
        http,
        {
            "name": "rolled-back",
            "pattern": "saga",
            "steps": [
                {"name": "one", "agent": echo("1"), "compensate": {**undo, "name": "undo-one"}},
                {"name": "two", "agent": echo("2"), "compensate": {**undo, "name": "undo-two"}},
                {"name": "three", "agent": {"backend": "shell", "command": "false"}},
            ],
        },
    )
    assert view["status"] == "failed" and "compensated 2 step(s)" in view["error"]
    assert [s["status"] for s in view["steps"]].count("completed") == 4  # 4 of 5 steps
    assert view["quality"] == 0.0  # not 0.8: everything it did was undone


MANAGER = (
    "import json, sys; brief = sys.stdin.read(); "
    "tasks = [{'task': 'write the code', 'capability': 'default'}, "
    "{'task': 'write tests for it', 'capability': 'testing'}]; "
    "tasks += [{'task': 'add the extra part'}] if 'Reviewer feedback' in brief else []; "
    "print(json.dumps({'subtasks': tasks}))"
)
REVIEWER = (
    "import json, sys; work = sys.stdin.read(); "
    "print(0.9 if 'EXTRA' in work else json.dumps({'score': 0.3, 'feedback': 'add extra'}))"
)


async def test_supervisor_iterates_until_the_quality_gate_passes(http: httpx.AsyncClient) -> None:
    upper = {"name": "worker", "agent": {"backend": "shell", "command": "tr a-z A-Z"}}
    view = await run(
        http,
        {
            "name": "boss",
            "pattern": "supervisor",
            "input": "build a thing",
            "manager": {"name": "manager", "agent": py(MANAGER)},
            "workers": {
                "default": upper,
                "testing": {
                    "name": "tester",
                    "agent": py("import sys; print('tested:', sys.stdin.read().strip())"),
                },
            },
            "reviewer": {"name": "reviewer", "agent": py(REVIEWER)},
        },
    )
    assert view["status"] == "completed", view
    assert view["quality"] == 0.9
    assert "EXTRA" in view["output"] and "tested: write tests for it" in view["output"]
    children = [s for s in view["steps"] if s["kind"] == "child"]
    assert len(children) == 5 and all(s["child_id"].startswith(view["id"]) for s in children)
    assert any("iteration-1: quality 0.30" in n for n in view["notes"])
    assert any("iteration-2: quality 0.90" in n for n in view["notes"])


async def test_supervisor_degrades_past_the_spawn_limit(http: httpx.AsyncClient) -> None:
    plan = "print('\\n'.join(f'- task {i}' for i in range(5)))"
    view = await run(
        http,
        {
            "name": "limits",
            "pattern": "supervisor",
            "max_workers_per_iteration": 2,
            "manager": {"name": "manager", "agent": py(plan)},
            "workers": {
                "default": {"name": "worker", "agent": {"backend": "shell", "command": "cat"}}
            },
            "reviewer": {"name": "reviewer", "agent": echo("1.0")},
        },
    )
    assert view["status"] == "completed", view
    assert any(
        "spawn limit 2 reached: 5 subtasks merged into 2 workers" in n for n in view["notes"]
    )
    assert len([s for s in view["steps"] if s["kind"] == "child"]) == 2
    assert all(f"task {i}" in view["output"] for i in range(5))


async def test_approval_waits_then_continues_or_fails(http: httpx.AsyncClient) -> None:
    spec = {
        "name": "gate",
        "steps": [
            {"name": "plan", "agent": echo("plan")},
            {"name": "apply", "agent": echo("applied"), "approval": {"reason": "touches prod"}},
        ],
    }
    run_id = (await http.post("/v1/runs", json=spec)).json()["id"]
    waiting = await until(http, run_id, lambda v: v["status"] == "waiting")
    assert waiting["waiting"]["kind"] == "approval" and waiting["waiting"]["step"] == "apply"
    assert waiting["waiting"]["reason"] == "touches prod"
    approved = await http.post(f"/v1/runs/{run_id}/approve", json={"comment": "ok"})
    assert approved.status_code == 200, approved.text
    # The answer comes once the run has acted on the decision.
    assert approved.json()["waiting"] is None and approved.json()["status"] != "waiting"
    assert "approval for apply approved by test: ok" in approved.json()["notes"]
    done = (await http.get(f"/v1/runs/{run_id}", params={"wait": 20})).json()
    assert done["status"] == "completed" and done["output"] == "applied\n"
    assert "approval for apply approved by test: ok" in done["notes"]
    again = await http.post(f"/v1/runs/{run_id}/approve")
    assert again.status_code == 409

    # A decision while the run is busy (not waiting) is refused by the run itself.
    sleep = {"backend": "shell", "command": "sleep 2"}
    busy = {"name": "busy", "steps": [{"name": "work", "agent": sleep}]}
    other = (await http.post("/v1/runs", json=busy)).json()["id"]
    await until(http, other, lambda v: v["steps"] and v["steps"][0]["status"] == "running")
    early = await http.post(f"/v1/runs/{other}/reject")
    assert early.status_code == 409 and "not waiting" in early.json()["error"]["message"]

    third = (await http.post("/v1/runs", json=spec)).json()["id"]
    await until(http, third, lambda v: v["status"] == "waiting")
    await http.post(f"/v1/runs/{third}/reject", json={"comment": "not today"})
    failed = (await http.get(f"/v1/runs/{third}", params={"wait": 20})).json()
    assert failed["status"] == "failed"
    assert failed["error"] == "approval rejected by test: not today"


async def test_budget_pauses_for_approval_or_fails(http: httpx.AsyncClient) -> None:
    steps = [
        {"name": "slow", "agent": {"backend": "shell", "command": "sleep 1.2"}},
        {"name": "next", "agent": echo("after")},
    ]
    paused_id = (
        await http.post(
            "/v1/runs",
            json={
                "name": "budget",
                "steps": steps,
                "budget": {"max_wall_seconds": 1, "on_exceed": "pause"},
            },
        )
    ).json()["id"]
    paused = await until(http, paused_id, lambda v: v["status"] == "waiting")
    assert paused["waiting"]["kind"] == "budget"
    assert "budget exceeded" in paused["waiting"]["reason"]
    await http.post(f"/v1/runs/{paused_id}/approve")
    done = (await http.get(f"/v1/runs/{paused_id}", params={"wait": 20})).json()
    assert done["status"] == "completed" and done["output"] == "after\n"

    failed = await run(http, {"name": "budget", "steps": steps, "budget": {"max_wall_seconds": 1}})
    assert failed["status"] == "failed" and failed["error"].startswith("budget exceeded")
    assert [s["name"] for s in failed["steps"]] == ["slow"]


async def test_fork_reuses_earlier_steps_and_takes_an_edited_input(
    http: httpx.AsyncClient,
) -> None:
    counter = "import sys, time; print(sys.stdin.read().strip() + '|' + str(time.time_ns()))"
    spec = {
        "name": "forkme",
        "input": "seed",
        "steps": [
            {"name": "a", "agent": py(counter)},
            {"name": "b", "agent": py("import sys; print(sys.stdin.read().strip().upper())")},
            {"name": "c", "agent": py("import sys; print(sys.stdin.read().strip() + '!')")},
        ],
    }
    parent = await run(http, spec)
    assert parent["status"] == "completed"
    fork = await http.post(
        f"/v1/runs/{parent['id']}/fork", json={"from_step": 1, "input": "edited"}
    )
    assert fork.status_code == 202, fork.text
    child = (await http.get(f"/v1/runs/{fork.json()['id']}", params={"wait": 20})).json()
    assert child["status"] == "completed" and child["parent_run_id"] == parent["id"]
    assert child["steps"][0]["reused"] is True
    assert child["steps"][0]["result"] == parent["steps"][0]["result"]  # same timestamp: not re-run
    assert child["output"].strip() == "EDITED!"
    timeline = (await http.get(f"/v1/runs/{child['id']}/timeline")).json()
    ran = [e["index"] for e in timeline["entries"] if e["kind"] == "step"]
    assert ran == [1, 2]  # step 0 never ran again

    for beyond in (3, 5):  # 3: past the last step (2), a fork that would rerun nothing
        too_far = await http.post(f"/v1/runs/{parent['id']}/fork", json={"from_step": beyond})
        assert too_far.status_code == 409  # the request is fine; this run does not allow it
        assert "has steps 0 to 2" in too_far.json()["error"]["message"]


async def test_timeline_lists_steps_and_decisions(http: httpx.AsyncClient) -> None:
    spec = {
        "name": "tl",
        "steps": [
            {"name": "one", "agent": echo("1")},
            {"name": "two", "agent": {"backend": "shell", "command": "false"}},
        ],
    }
    view = await run(http, spec)
    timeline = (await http.get(f"/v1/runs/{view['id']}/timeline")).json()
    steps = [e for e in timeline["entries"] if e["kind"] == "step"]
    assert [(s["index"], s["name"], s["status"]) for s in steps] == [
        (0, "one", "completed"),
        (1, "two", "failed"),
    ]
    assert steps[0]["output"] == "1\n" and steps[0]["backend"] == "shell"
    assert "false exited with code 1" in steps[1]["error"]
    assert timeline["status"] == "failed" and timeline["workflow_type"] == "PipelineWorkflow"


PRINT_REF = "import json, sys; print(json.load(sys.stdin)['ref'])"


async def test_event_driven_handles_events_once_and_continues_as_new(
    http: httpx.AsyncClient,
) -> None:
    spec = {
        "name": "react",
        "pattern": "event-driven",
        "events_per_history": 2,
        "handlers": [
            {"on": "push", "step": {"name": "build", "agent": py(PRINT_REF)}},
        ],
    }
    run_id = (await http.post("/v1/runs", json=spec)).json()["id"]
    for n, ref in enumerate(["main", "dev", "main", "feat", "x"]):
        event = {"id": f"e{n}", "type": "push", "data": {"ref": ref}}
        resp = await http.post(f"/v1/runs/{run_id}/events", json=event)
        assert resp.status_code == 202, resp.text
    dup = await http.post(
        f"/v1/runs/{run_id}/events", json={"id": "e0", "type": "push", "data": {"ref": "again"}}
    )
    assert dup.status_code == 202
    await until(http, run_id, lambda v: v["events_handled"] == 5)
    await http.post(f"/v1/runs/{run_id}/events", json={"id": "stop-1", "type": "stop"})
    done = (await http.get(f"/v1/runs/{run_id}", params={"wait": 20})).json()
    assert done["status"] == "completed", done
    assert json.loads(done["output"]) == {"events_handled": 5}
    # Continued as new twice: the last history holds only the fifth event's step.
    assert [s["index"] for s in done["steps"]] == [4]
    not_events = await run(http, {"name": "p", "steps": [{"name": "a", "agent": echo("x")}]})
    refused = await http.post(
        f"/v1/runs/{not_events['id']}/events", json={"id": "1", "type": "push"}
    )
    assert refused.status_code == 409
