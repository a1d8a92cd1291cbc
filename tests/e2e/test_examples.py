"""Every bundled example, run on the whole stack as a user starts it (`acc up`), over HTTP:
each pattern's outcome, approvals, events, forks and the timeline."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from core.specs import PATTERNS, parse_spec
from tests.support.stack import acc_up, api_headers, stack_env

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WAIT = 60  # seconds the API holds a GET ?wait= open (its maximum)


@dataclass
class Stack:
    api: str
    data_dir: Path
    http: httpx.Client

    def start(self, example: str) -> str:
        spec = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
        accepted = self.http.post("/v1/runs", json=spec)
        assert accepted.status_code == 202, accepted.text
        run_id: str = accepted.json()["id"]
        return run_id

    def finished(self, run_id: str) -> dict[str, Any]:
        """The run's view once it has ended (GET ?wait=60)."""
        view: dict[str, Any] = self.http.get(f"/v1/runs/{run_id}", params={"wait": WAIT}).json()
        assert view["status"] not in ("running", "waiting"), view
        return view

    def until(self, run_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            view: dict[str, Any] = self.http.get(f"/v1/runs/{run_id}").json()
            if view["status"] == status or time.monotonic() > deadline:
                assert view["status"] == status, view
                return view
            time.sleep(0.2)

    def workdir(self, run_id: str) -> Path:
        return self.data_dir / "runs" / run_id


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("examples")
    env = stack_env(tmp)
    api = f"http://127.0.0.1:{env['ACC_API_PORT']}"
    with (
        acc_up(tmp, env),
        httpx.Client(base_url=api, timeout=WAIT + 30, headers=api_headers(tmp / ".acc")) as http,
    ):
        yield Stack(api, tmp / ".acc", http)


@pytest.fixture(scope="module")
def pipeline_run(stack: Stack) -> dict[str, Any]:
    """The pipeline-templates example, run to completion once for the tests that read it."""
    return stack.finished(stack.start("pipeline-templates"))


def test_every_pattern_has_a_valid_example() -> None:
    patterns = set()
    for path in sorted(EXAMPLES.glob("*.yaml")):
        spec = parse_spec(yaml.safe_load(path.read_text()))
        patterns.add(spec.pattern)
        assert spec.name == path.stem, f"{path.name} should be named after its file"
    assert patterns == set(PATTERNS)
    readme = (EXAMPLES / "README.md").read_text()
    for path in EXAMPLES.glob("*.yaml"):
        assert f"## {path.name}" in readme, f"examples/README.md has no section on {path.name}"


def test_pipeline_fills_templates_from_the_run_input_and_earlier_steps(
    pipeline_run: dict[str, Any],
) -> None:
    run = pipeline_run
    assert run["status"] == "completed", run
    assert run["output"] == (
        "original: the quick brown fox jumps over the lazy dog\n"
        "words:    9\n"
        "shouted:  THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG\n"
    )
    steps = [(s["index"], s["name"], s["status"]) for s in run["steps"]]
    assert steps == [
        (0, "count", "completed"),
        (1, "shout", "completed"),
        (2, "report", "completed"),
    ]
    assert run["steps"][0]["result"]["output"]["text"] == "9"
    # `shout` read the run's input, not `count`'s output.
    assert run["steps"][1]["result"]["output"]["text"] == (
        "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG"
    )
    assert run["quality"] == 1.0
    assert not any(s["reused"] for s in run["steps"])


def test_timeline_lists_the_steps_with_their_indexes(
    stack: Stack, pipeline_run: dict[str, Any]
) -> None:
    timeline = stack.http.get(f"/v1/runs/{pipeline_run['id']}/timeline")
    assert timeline.status_code == 200, timeline.text
    body = timeline.json()
    assert body["run_id"] == pipeline_run["id"]
    assert body["workflow_type"] == "PipelineWorkflow" and body["status"] == "completed"
    steps = [e for e in body["entries"] if e["kind"] == "step"]
    assert [(s["index"], s["name"], s["status"], s["backend"]) for s in steps] == [
        (0, "count", "completed", "shell"),
        (1, "shout", "completed", "shell"),
        (2, "report", "completed", "shell"),
    ]
    assert steps[0]["output"] == "9"
    assert steps[0]["input"] == "the quick brown fox jumps over the lazy dog"
    assert steps[2]["output"] == pipeline_run["output"]
    runs = [(e["name"], e["status"]) for e in body["entries"] if e["kind"] == "run"]
    assert runs == [("PipelineWorkflow", "started"), ("PipelineWorkflow", "completed")]


def test_a_fork_reuses_the_steps_before_it_and_takes_the_edited_input(
    stack: Stack, pipeline_run: dict[str, Any]
) -> None:
    parent = pipeline_run["id"]
    forked = stack.http.post(
        f"/v1/runs/{parent}/fork", json={"from_step": 1, "input": "hello fork"}
    )
    assert forked.status_code == 202, forked.text
    run = stack.finished(forked.json()["id"])
    assert run["status"] == "completed", run
    assert run["parent_run_id"] == parent
    steps = run["steps"]
    assert [(s["index"], s["name"], s["reused"]) for s in steps] == [
        (0, "count", True),
        (1, "shout", False),
        (2, "report", False),
    ]
    assert steps[0]["result"] == pipeline_run["steps"][0]["result"]
    assert steps[1]["result"]["output"]["text"] == "HELLO FORK"
    assert run["output"] == (
        "original: the quick brown fox jumps over the lazy dog\nwords:    9\nshouted:  HELLO FORK\n"
    )
    # Step 0's agent did not run again: the fork's history has steps 1 and 2 only.
    timeline = stack.http.get(f"/v1/runs/{run['id']}/timeline").json()
    ran = [(e["index"], e["name"]) for e in timeline["entries"] if e["kind"] == "step"]
    assert ran == [(1, "shout"), (2, "report")]


def test_scatter_gather_picks_the_best_scored_answer(stack: Stack) -> None:
    run = stack.finished(stack.start("scatter-gather"))
    assert run["status"] == "completed", run
    assert run["output"].strip() == "1 3 5 9"
    assert run["quality"] == 1.0
    assert run["notes"] == ["6 of 6 jobs succeeded (quorum 6)", "best_score: answer 0 scored 1.00"]
    jobs = [(s["name"], s["group"]) for s in run["steps"] if s["group"] != "score"]
    assert sorted(jobs) == sorted(
        (agent, f"task-{n}") for agent in ("sorter", "reverser", "echoer") for n in (0, 1)
    )
    scores = [s for s in run["steps"] if s["group"] == "score"]
    assert len(scores) == 6 and {s["name"] for s in scores} == {"in-order"}
    assert all(s["status"] == "completed" for s in run["steps"])
    answers = {
        (s["name"], s["group"]): s["result"]["output"]["text"].strip()
        for s in run["steps"]
        if s["group"] != "score"
    }
    assert answers[("reverser", "task-0")] == "1 9 3 5"
    assert answers[("echoer", "task-1")] == "42 7 19"


def test_consensus_agrees_in_the_second_round(stack: Stack) -> None:
    run = stack.finished(stack.start("consensus"))
    assert run["status"] == "completed", run
    record = json.loads(run["output"])
    assert record["agreed"] is True
    assert record["reason"] == "majority reached in round 2"
    assert record["winner"] == {"id": "p3", "by": "carol", "text": "ship on monday"}
    assert [r["votes"] for r in record["rounds"]] == [
        {"alice": "p1", "bob": "p2", "carol": "p3"},
        {"alice": "p3", "bob": "p3", "carol": "p3"},
    ]
    assert [r["agreed"] for r in record["rounds"]] == [False, True]
    assert run["quality"] == 1.0
    assert run["notes"] == ["round 1: p1 leads with 33%", "round 2: p3 leads with 100% - agreement"]
    groups = [s["group"] for s in run["steps"]]
    assert groups == ["proposals"] * 3 + ["round-1"] * 3 + ["round-2"] * 3


def test_saga_compensates_completed_steps_in_reverse_order(stack: Stack) -> None:
    run_id = stack.start("saga")
    run = stack.finished(run_id)
    assert run["status"] == "failed", run
    steps = [(s["name"], s["group"], s["status"]) for s in run["steps"]]
    assert steps == [
        ("reserve-flight", None, "completed"),
        ("reserve-hotel", None, "completed"),
        ("charge-card", None, "failed"),
        ("cancel-hotel", "compensation", "completed"),
        ("cancel-flight", "compensation", "completed"),
    ]
    assert run["notes"] == ["compensated reserve-hotel", "compensated reserve-flight"]
    undone = [s["result"]["output"]["text"] for s in run["steps"][3:]]
    assert undone == ["cancelled hotel HT-202\n", "cancelled flight FL-101\n"]
    assert (stack.workdir(run_id) / "trip.log").read_text().splitlines() == [
        "reserved flight FL-101",
        "reserved hotel HT-202",
        "card declined",
        "cancelled hotel HT-202",
        "cancelled flight FL-101",
    ]
    assert "card declined; compensated 2 step(s)" in run["error"]
    # The agent's own message, not Temporal's `Type: message` rendering of it.
    assert run["steps"][2]["error"] == "python3 exited with code 1: card declined"
    assert run["error"] == (
        "step 'charge-card' failed: python3 exited with code 1: card declined; "
        "compensated 2 step(s)"
    )


def test_supervisor_passes_the_gate_on_the_second_iteration(stack: Stack) -> None:
    run = stack.finished(stack.start("supervisor"))
    assert run["status"] == "completed", run
    assert run["quality"] is not None and run["quality"] >= 0.7
    notes = run["notes"]
    assert "iteration-1: quality 0.67 (gate 0.70)" in notes
    assert "iteration-2: quality 1.00 (gate 0.70)" in notes
    assert not any(n.startswith("iteration-3") for n in notes)
    by_group: dict[str, list[str]] = {}
    for s in run["steps"]:
        by_group.setdefault(s["group"], []).append(s["name"])
    assert set(by_group) == {"iteration-1", "iteration-2"}
    assert sorted(by_group["iteration-1"]) == ["coder", "manager", "reviewer", "tester"]
    assert sorted(by_group["iteration-2"]) == ["coder", "manager", "reviewer", "tester", "writer"]
    workers = [s for s in run["steps"] if s["name"] in ("coder", "tester", "writer")]
    assert all(s["kind"] == "child" and s["child_id"] for s in workers)
    # The manager saw the reviewer's feedback in iteration 2 and planned the docs.
    reviews = [s["result"]["output"]["text"] for s in run["steps"] if s["name"] == "reviewer"]
    assert json.loads(reviews[0]) == {"score": 0.67, "feedback": "missing: [docs]"}
    for marker in (
        "[code] done: implement slugify(text)",
        "[tests] done: write unit tests for slugify",
        "[docs] done: document slugify in the README",
    ):
        assert marker in run["output"]


def test_event_driven_handles_each_event_once_until_stopped(stack: Stack) -> None:
    run_id = stack.start("event-driven")
    created = {"id": "e1", "type": "order.created", "data": {"order": 42, "customer": "alice"}}
    events: list[dict[str, Any]] = [
        created,
        created,  # the same id again: ignored
        {"id": "e2", "type": "order.shipped", "data": {"order": 42, "carrier": "dhl"}},
        {"id": "e3", "type": "shutdown"},
    ]
    for event in events:
        sent = stack.http.post(f"/v1/runs/{run_id}/events", json=event)
        assert sent.status_code == 202, sent.text
        assert sent.json() == {"id": event["id"], "status": "accepted"}
    run = stack.finished(run_id)
    assert run["status"] == "completed", run
    assert run["events_handled"] == 2
    assert json.loads(run["output"]) == {"events_handled": 2}
    assert run["notes"] == ["stopped by event e3"]
    steps = [
        (s["name"], s["group"], s["status"], s["result"]["output"]["text"]) for s in run["steps"]
    ]
    assert steps == [
        ("on-created", "event-e1", "completed", "order 42 created for alice\n"),
        ("on-shipped", "event-e2", "completed", "order 42 shipped with dhl\n"),
    ]
    assert (stack.workdir(run_id) / "orders.log").read_text().splitlines() == [
        "order 42 created for alice",
        "order 42 shipped with dhl",
    ]
    late = stack.http.post(f"/v1/runs/{run_id}/events", json={"id": "e4", "type": "order.created"})
    assert late.status_code == 409, late.text


def test_an_approved_step_runs_and_the_run_completes(stack: Stack) -> None:
    run_id = stack.start("approval-budget")
    waiting = stack.until(run_id, "waiting")
    assert waiting["waiting"]["kind"] == "approval"
    assert waiting["waiting"]["step"] == "deploy"
    assert waiting["waiting"]["reason"] == "deploy to production?"
    assert [(s["name"], s["status"]) for s in waiting["steps"]] == [
        ("build", "completed"),
        ("deploy", "running"),
    ]
    assert waiting["pending"] == ["announce"]
    approved = stack.http.post(f"/v1/runs/{run_id}/approve", json={"comment": "ship it"})
    assert approved.status_code == 200, approved.text
    run = stack.finished(run_id)
    assert run["status"] == "completed", run
    assert run["output"] == "RELEASED: BUILD-42 IS DEPLOYED"
    assert run["notes"] == ["approval for deploy approved by local-admin: ship it"]
    assert [(s["name"], s["status"]) for s in run["steps"]] == [
        ("build", "completed"),
        ("deploy", "completed"),
        ("announce", "completed"),
    ]
    again = stack.http.post(f"/v1/runs/{run_id}/approve")
    assert again.status_code == 409, again.text
    # The answer to /approve no longer shows the question it answered as open.
    answered = approved.json()
    assert answered["waiting"] is None and answered["status"] != "waiting", answered


def test_a_rejected_step_fails_the_run(stack: Stack) -> None:
    run_id = stack.start("approval-budget")
    stack.until(run_id, "waiting")
    rejected = stack.http.post(f"/v1/runs/{run_id}/reject", json={"comment": "not today"})
    assert rejected.status_code == 200, rejected.text
    run = stack.finished(run_id)
    assert run["status"] == "failed", run
    assert run["error"] == "approval rejected by local-admin: not today"
    assert run["notes"] == ["approval for deploy rejected by local-admin: not today"]
    assert [(s["name"], s["status"]) for s in run["steps"]] == [
        ("build", "completed"),
        ("deploy", "failed"),
    ]
    assert run["steps"][1]["result"] is None  # the deploy agent never ran
    assert run["pending"] == ["announce"]
    # The answer to /reject no longer shows the question it answered as open.
    answered = rejected.json()
    assert answered["waiting"] is None and answered["status"] != "waiting", answered


def test_review_gate_sends_findings_to_the_worker_until_they_are_fixed(stack: Stack) -> None:
    run = stack.finished(stack.start("review-gate"))
    assert run["status"] == "completed", run
    assert run["quality"] == 1.0
    loader = (stack.workdir(run["id"]) / "loader.py").read_text()
    assert "yaml.safe_load(text)" in loader and "hashlib.sha256(" in loader
    reviews = [s for s in run["steps"] if s["name"] == "review"]
    assert [s["group"] for s in reviews] == ["iteration-1", "iteration-2"]
    first = json.loads(reviews[0]["result"]["output"]["text"])
    assert first["blocking"] == 2 and "Fix: replace `yaml.load(text)`" in first["feedback"]
