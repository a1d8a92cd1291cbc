"""What events do to the runs projection and to the 1-minute rollups, with no I/O: the
sink loads the records, folds the new events into them, and writes the results.

A run is folded as a plain `RunState` (the columns of `analytics.tables.RunRecord`), not
as the SQLModel table class: building and changing instrumented ORM objects cost more
than the rest of the fold together."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from analytics import histogram
from core.events import Event

RUN_TYPES = ("run.", "step.", "agent.", "routing.")  # events about a run
TERMINAL = {"run.completed": "completed", "run.failed": "failed", "run.cancelled": "cancelled"}
ROLLUP_SUMS = (
    "events",
    "runs_started",
    "runs_completed",
    "runs_failed",
    "runs_cancelled",
    "steps_completed",
    "steps_failed",
    "step_ms_sum",
    "run_ms_sum",
    "cost_usd",
    "tokens",
    "quality_sum",
    "quality_count",
)
RollupKey = tuple[str, datetime, str, str]  # tenant, minute, pattern, agent
BucketKey = tuple[str, datetime, str, str, str, int]  # + kind, bucket


@dataclass(slots=True)
class RunState:
    """One run of the projection as the fold changes it (the columns of `RunRecord`)."""

    tenant: str
    run_id: str
    updated_at: datetime
    name: str | None = None
    pattern: str | None = None
    status: str = "running"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    cost_usd: float = 0.0
    tokens: int = 0
    quality: float | None = None
    steps_completed: int = 0
    steps_failed: int = 0
    waiting_reason: str | None = None
    error: str | None = None


def utc(moment: datetime) -> datetime:
    """Aware UTC (a naive time is taken as UTC, as the database may give it back)."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def minute_of(moment: datetime) -> datetime:
    return utc(moment).replace(second=0, microsecond=0)


def _minute(at: datetime) -> datetime:
    """The minute of a time already in UTC (fold converts each event's time once)."""
    return at.replace(second=0, microsecond=0)


@dataclass
class Folded:
    """The effect of a batch: run records to write, rollup sums and bucket counts to add."""

    runs: dict[tuple[str, str], RunState] = field(default_factory=dict)
    rollups: dict[RollupKey, dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(ROLLUP_SUMS, 0.0))
    )
    buckets: dict[BucketKey, int] = field(default_factory=lambda: defaultdict(int))


def fold(events: list[Event], runs: dict[tuple[str, str], RunState]) -> Folded:
    """Fold new events (each once) into the given run records (created when missing)."""
    out = Folded(runs=runs)
    for event in sorted(events, key=lambda e: e.time):
        at = utc(event.time)
        if not event.type.startswith(RUN_TYPES):  # pool, dispatch...: counted, no run
            out.rollups[(event.tenant, _minute(at), "", event.agent or "")]["events"] += 1
            continue
        key = (event.tenant, event.run_id)
        record = runs.get(key)
        if record is None:
            record = runs[key] = RunState(tenant=event.tenant, run_id=event.run_id, updated_at=at)
        _apply(event, at, record, out)
    return out


def _apply(event: Event, at: datetime, record: RunState, out: Folded) -> None:
    data = event.data
    record.updated_at = max(record.updated_at, at)
    if isinstance(data.get("pattern"), str):
        record.pattern = data["pattern"]
    if isinstance(data.get("name"), str):
        record.name = data["name"]
    agent = (event.agent or "") if event.type.startswith("step.") else ""
    # The event's rollup row; its duration buckets share the key (a run's end has no agent).
    dims = (event.tenant, _minute(at), record.pattern or "", agent)
    sums = out.rollups[dims]
    sums["events"] += 1
    ended = record.status in TERMINAL.values()
    if event.type == "run.started":
        sums["runs_started"] += 1
        record.started_at = at
    elif event.type == "run.waiting" and not ended:
        record.status = "waiting"
        record.waiting_reason = _reason(data.get("waiting"))
    elif event.type in ("step.started", "step.completed") and record.status == "waiting":
        record.status, record.waiting_reason = "running", None  # a decision came
    if event.type == "step.completed":
        record.steps_completed += 1
        sums["steps_completed"] += 1
        record.cost_usd += event.cost_usd or 0.0
        record.tokens += event.tokens or 0
        sums["cost_usd"] += event.cost_usd or 0.0
        sums["tokens"] += event.tokens or 0
        if isinstance(ms := data.get("duration_ms"), int | float):
            sums["step_ms_sum"] += ms
            out.buckets[(*dims, "step", histogram.bucket(ms))] += 1
    elif event.type == "step.failed":
        record.steps_failed += 1
        sums["steps_failed"] += 1
    elif event.type in TERMINAL and not ended:
        record.status = TERMINAL[event.type]
        record.ended_at = at
        record.waiting_reason = None
        sums[f"runs_{record.status}"] += 1
        if isinstance(quality := data.get("quality"), int | float):
            record.quality = float(quality)
            sums["quality_sum"] += quality
            sums["quality_count"] += 1
        if isinstance(error := data.get("error"), str):
            record.error = error[:2000]
        if record.started_at is not None:
            ms = (at - record.started_at).total_seconds() * 1000
            sums["run_ms_sum"] += ms
            out.buckets[(*dims, "run", histogram.bucket(ms))] += 1


def _reason(waiting: Any) -> str | None:
    if isinstance(waiting, dict):
        reason = waiting.get("reason") or waiting.get("kind")
        return str(reason) if reason else json.dumps(waiting)[:500]
    return None if waiting is None else str(waiting)[:500]
