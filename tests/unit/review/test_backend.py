"""The `review` step backend: it heartbeats while semgrep runs, answers JSON the quality
gate reads (score 1 only without blocking findings), and keeps the answer small."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from activities.review import ANSWER_BYTES, ReviewBackend, answer
from agents.base import AgentContext
from core.contracts import AgentTask
from core.settings import load_settings
from core.specs import ReviewAgent
from review.models import Report, Suggestion
from workflows.scoring import parse_score

pytestmark = pytest.mark.unit


def context(tmp_path: Path, agent: ReviewAgent, beats: list[int]) -> AgentContext:
    async def emit(kind: str, data: dict[str, object]) -> None:
        return None

    task = AgentTask(run_id="r1", tenant="t", step_index=0, step_name="review", agent=agent)
    return AgentContext(
        task=task,
        input_text="",
        workdir=tmp_path,
        heartbeat=lambda: beats.append(1),
        emit=emit,
    )


async def test_the_backend_heartbeats_and_its_answer_feeds_the_gate(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("import yaml\n\n\ndef f(t):\n    return yaml.load(t)\n")
    beats: list[int] = []
    backend = ReviewBackend(load_settings(DATA_DIR=tmp_path / ".acc"))
    outcome = await backend.run(context(tmp_path, ReviewAgent(fail_on="error"), beats))
    assert beats, "no heartbeat while the review ran"
    score, feedback = parse_score(outcome.text)
    assert score == 0.0
    assert "app.py:5 error python.security.yaml-unsafe-load, CWE-502" in feedback
    (tmp_path / "app.py").write_text("import yaml\n\n\ndef f(t):\n    return yaml.safe_load(t)\n")
    fixed = await backend.run(context(tmp_path, ReviewAgent(fail_on="error"), beats))
    assert parse_score(fixed.text) == (1.0, "no blocking findings")


def test_a_long_answer_is_cut_to_fit_the_inline_output() -> None:
    many = [
        Suggestion(
            id=str(i),
            rule_id="python.security.eval",
            category="security",
            severity="error",
            confidence=0.7,
            path=f"pkg/module_{i}.py",
            line=i,
            end_line=i,
            message="eval runs a string as Python code." * 3,
        )
        for i in range(500)
    ]
    text = answer(Report(root="/x", suggestions=many), "warning")
    assert len(text.encode()) <= ANSWER_BYTES
    body = json.loads(text)
    assert body["blocking"] == 500 and "more" in body["feedback"]
