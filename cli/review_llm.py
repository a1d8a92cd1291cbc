"""The review's optional LLM pass (review/llm.py) through the llm backend: one chat
completion with the reviewed files and the rules' findings, on the provider and model the
settings name (ACC_REVIEW_LLM_PROVIDER, ACC_REVIEW_LLM_MODEL) and that provider's key and
base URL (ACC_OPENAI_* / ACC_ANTHROPIC_*). A failure of the pass is a note in the report,
never a failed review."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from temporalio.exceptions import ApplicationError

from agents.backends.llm import LlmBackend
from agents.base import AgentContext
from core.contracts import AgentTask
from core.settings import Settings
from core.specs import LlmAgent
from review import coverage, diffs, llm
from review.models import Report

MAX_TOKENS = 4096


async def _ask(settings: Settings, model: str, user: str, workdir: Path) -> str:
    backend = LlmBackend(settings)

    async def emit(kind: str, data: dict[str, Any]) -> None:
        return None

    agent = LlmAgent(
        provider=settings.REVIEW_LLM_PROVIDER,
        model=model,
        prompt=user,
        system=llm.SYSTEM,
        max_tokens=MAX_TOKENS,
        temperature=0,
    )
    task = AgentTask(
        run_id="review",
        tenant=settings.TENANT,
        step_index=0,
        step_name="review-llm",
        agent=agent,
        timeout_seconds=settings.REVIEW_TIMEOUT_SECONDS,
    )
    context = AgentContext(
        task=task, input_text="", workdir=workdir, heartbeat=lambda *_: None, emit=emit
    )
    try:
        return (await backend.run(context)).text
    finally:
        await backend.aclose()


def add_llm_suggestions(report: Report, settings: Settings, model: str) -> None:
    """Ask the model, then add the suggestions that hold up to the report (in place)."""
    paths = llm.files_for(report, settings.REVIEW_LLM_MAX_FILES)
    if not paths:
        return
    root = Path(report.root)
    try:
        changed = (
            diffs.changed_lines(root, report.diff_ref, report.staged)
            if report.diff_ref is not None or report.staged
            else None
        )
        reply = asyncio.run(_ask(settings, model, llm.prompt(report, paths), root))
    except (ApplicationError, diffs.DiffError) as exc:
        report.errors.append(f"LLM pass ({model}) failed: {exc}")
        return
    added, dropped = llm.parse(reply, report, paths, changed)
    if report.coverage is not None:
        coverage.correlate(added, coverage.load(Path(report.coverage), root))
    report.llm_model = model
    if dropped:
        report.errors.append(
            f"LLM pass: {dropped} of the model's items left out (a file or line not "
            "reviewed, a line a rule already flagged, or outside the diff)"
        )
    report.suggestions = sorted(
        report.suggestions + added, key=lambda s: (s.path, s.line, s.column, s.rule_id)
    )
