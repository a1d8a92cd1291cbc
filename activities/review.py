"""The `review` step backend: acc's code review of the run's working directory, inside the
`run_agent` activity like any other agent, so every pattern can use it and a supervisor's
quality gate can be one.

The engine runs in a thread while the activity heartbeats every second (semgrep on a large
tree takes a while; a lost worker is noticed by its missing heartbeats and the step runs
again elsewhere). The answer is JSON the gate reads (`workflows/scoring.py`):

    {"score": 0 or 1, "feedback": "app.py:6 error python.security.yaml-unsafe-load ...",
     "blocking": 1, "suggestions": [...]}

score is 1 only when no suggestion at or above the step's `fail_on` remains. The answer is
kept under the inline output limit (the gate reads it from history): the feedback lists
the first blocking suggestions, each with its fix or first alternative.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from temporalio.exceptions import ApplicationError

from agents.base import AgentContext, AgentOutcome
from core.settings import Settings
from core.specs import ReviewAgent
from review import semgrep, standards
from review.engine import ReviewInputError, review
from review.models import SEVERITY_RANK, Report, ReviewRequest, Suggestion

HEARTBEAT_SECONDS = 1.0
ANSWER_BYTES = 6_000  # under the default inline output limit (8 KiB)


def feedback_line(s: Suggestion) -> str:
    how = (
        f" Fix: replace `{s.snippet}` with `{s.replacement}`."
        if s.replacement is not None
        else (f" Try: {s.alternatives[0]}" if s.alternatives else "")
    )
    cwe = f", {s.cwe}" if s.cwe else ""
    return f"{s.path}:{s.line} {s.severity} {s.rule_id}{cwe}: {s.message}{how}"


def answer(report: Report, fail_on: str) -> str:
    """The step's JSON answer, at most ANSWER_BYTES long."""
    blocking = [
        s for s in report.suggestions if SEVERITY_RANK[s.severity] >= SEVERITY_RANK[fail_on]
    ]
    shown = list(blocking)
    while True:
        lines = [feedback_line(s) for s in shown]
        if len(shown) < len(blocking):
            lines.append(f"... and {len(blocking) - len(shown)} more")
        body: dict[str, Any] = {
            "score": 0.0 if blocking else 1.0,
            "feedback": "\n".join(lines) if blocking else "no blocking findings",
            "blocking": len(blocking),
            "suggestions": len(report.suggestions),
            "files": len(report.files),
            "skipped": [f"{s.path}: {s.reason}" for s in report.skipped[:10]],
        }
        text = json.dumps(body)
        if len(text.encode()) <= ANSWER_BYTES or not shown:
            return text
        shown = shown[: max(0, len(shown) // 2)]


class ReviewBackend:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def run(self, ctx: AgentContext) -> AgentOutcome:
        agent = ctx.task.agent
        assert isinstance(agent, ReviewAgent)
        settings = self._settings
        ctx.workdir.mkdir(parents=True, exist_ok=True)
        request = ReviewRequest(
            root=str(ctx.workdir),
            paths=agent.paths,
            categories=agent.categories,
            min_confidence=agent.min_confidence,
        )
        try:
            team = standards.for_root(ctx.workdir, settings.REVIEW_STANDARDS_FILE)
        except standards.StandardsError as exc:
            raise ApplicationError(str(exc), type="ReviewInputError", non_retryable=True) from None
        job = asyncio.ensure_future(
            asyncio.to_thread(
                review,
                request,
                standards=team,
                semgrep_binary=settings.REVIEW_SEMGREP,
                max_file_bytes=settings.REVIEW_MAX_FILE_BYTES,
                timeout=settings.REVIEW_TIMEOUT_SECONDS,
            )
        )
        while not job.done():
            await asyncio.wait({job}, timeout=HEARTBEAT_SECONDS)
            ctx.heartbeat()
        try:
            report = job.result()
        except ReviewInputError as exc:
            raise ApplicationError(str(exc), type="ReviewInputError", non_retryable=True) from None
        except semgrep.SemgrepUnavailable as exc:
            raise ApplicationError(
                str(exc), type="BackendUnavailable", non_retryable=True
            ) from None
        return AgentOutcome(text=answer(report, agent.fail_on))
