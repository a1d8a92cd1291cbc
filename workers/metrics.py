"""Prometheus metrics of the worker process: runs and steps, their durations, cost and
tokens, read from the activities this worker executes (an activity interceptor, so the
activities themselves stay free of metrics code). Served with the process's default
registry on the health port's `/metrics` (core/health.py), next to the Temporal SDK's own
series when ACC_SDK_METRICS_PORT is set.

Only activities are counted, never workflow code: a workflow task replays after a worker
restart, an activity result is recorded once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import Counter, Histogram
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from core.contracts import (
    PUBLISH_RUN_EVENT,
    PURGE_EXPIRED,
    RUN_AGENT,
    AgentResult,
    AgentTask,
    PurgeResult,
    RunEvent,
)

SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)
QUALITY = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.8, 0.9, 1.0)

RUNS = Counter(
    "acc_runs", "Runs ended on this worker, by pattern and status", ["pattern", "status"]
)
RUN_SECONDS = Histogram(
    "acc_run_duration_seconds", "From a run's start to its end", ["pattern"], buckets=SECONDS
)
RUN_QUALITY = Histogram(
    "acc_run_quality", "Quality score of ended runs (0..1)", ["pattern"], buckets=QUALITY
)
STEPS = Counter(
    "acc_steps", "Agent step attempts ended, by backend and outcome", ["backend", "outcome"]
)
STEP_SECONDS = Histogram(
    "acc_step_duration_seconds", "An agent step's run time", ["backend"], buckets=SECONDS
)
COST = Counter("acc_cost_usd", "Cost of agent steps in US dollars", ["backend"])
TOKENS = Counter("acc_tokens", "Tokens of agent steps", ["backend", "direction"])
PURGED = Counter(
    "acc_retention_removed",
    "What the retention job removed: rows by table, and run folders ('workspaces')",
    ["what"],
)

ENDED = {"run.completed": "completed", "run.failed": "failed", "run.cancelled": "cancelled"}


def record_run(event: RunEvent) -> None:
    status = ENDED.get(event.type)
    if status is None:
        return
    RUNS.labels(event.pattern, status).inc()
    if event.duration_ms is not None:
        RUN_SECONDS.labels(event.pattern).observe(event.duration_ms / 1000)
    if event.quality is not None:
        RUN_QUALITY.labels(event.pattern).observe(event.quality)


def record_step(task: AgentTask, result: AgentResult | None, outcome: str) -> None:
    """One attempt's end: completed, failed, cancelled or handed_off (to a remote agent,
    which reports by task token)."""
    backend = task.agent.backend
    STEPS.labels(backend, outcome).inc()
    if result is None:
        return
    STEP_SECONDS.labels(backend).observe(result.duration_ms / 1000)
    COST.labels(backend).inc(result.usage.cost_usd)
    TOKENS.labels(backend, "input").inc(result.usage.input_tokens)
    TOKENS.labels(backend, "output").inc(result.usage.output_tokens)


class _Inbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        name = activity.info().activity_type
        arg = input.args[0] if input.args else None
        try:
            result = await super().execute_activity(input)
        except activity._CompleteAsyncError:  # the SDK's own signal for a task-token finish
            if isinstance(arg, AgentTask):
                record_step(arg, None, "handed_off")
            raise
        except BaseException as exc:
            if name == RUN_AGENT and isinstance(arg, AgentTask):
                # An agent that ran and failed carries its result (output, usage) in details.
                details = getattr(exc, "details", ())
                ran = next((d for d in details if isinstance(d, AgentResult)), None)
                cancelled = isinstance(exc, asyncio.CancelledError)
                record_step(arg, ran, "cancelled" if cancelled else "failed")
            raise
        if name == RUN_AGENT and isinstance(arg, AgentTask) and isinstance(result, AgentResult):
            record_step(arg, result, "completed")
        elif name == PUBLISH_RUN_EVENT and isinstance(arg, RunEvent):
            record_run(arg)
        elif name == PURGE_EXPIRED and isinstance(result, PurgeResult):
            for table, count in result.rows.items():
                PURGED.labels(table).inc(count)
            PURGED.labels("workspaces").inc(len(result.workspaces))
        return result


class MetricsInterceptor(Interceptor):
    """Counts what the worker's activities report (see the module docstring)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next)
