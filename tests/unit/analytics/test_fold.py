"""Folding events into run records and rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.fold import fold
from core.events import Event

pytestmark = pytest.mark.unit
AT = datetime(2026, 11, 30, 12, 0, 10, tzinfo=UTC)


def test_a_waiting_run_runs_again_at_its_next_step_and_the_first_end_wins() -> None:
    base = {"source": "t", "run_id": "r", "tenant": "t1"}
    events = [
        Event(type="run.started", time=AT, data={"pattern": "saga", "name": "n"}, **base),
        Event(
            type="run.waiting",
            time=AT + timedelta(seconds=1),
            data={"waiting": {"kind": "approval", "reason": "check first"}},
            **base,
        ),
    ]
    record = fold(events, {}).runs[("t1", "r")]
    assert record.status == "waiting" and record.waiting_reason == "check first"
    more = [
        Event(type="step.started", time=AT + timedelta(seconds=2), step="a", **base),
        Event(type="run.failed", time=AT + timedelta(seconds=3), data={"error": "x"}, **base),
        Event(type="run.completed", time=AT + timedelta(seconds=4), **base),  # too late
    ]
    folded = fold(more, {("t1", "r"): record})
    record = folded.runs[("t1", "r")]
    assert record.status == "failed" and record.error == "x" and record.waiting_reason is None
    assert record.ended_at == AT + timedelta(seconds=3) and record.pattern == "saga"
    (sums,) = folded.rollups.values()
    assert sums["runs_failed"] == 1 and sums["runs_completed"] == 0 and sums["run_ms_sum"] == 3000


def test_events_about_no_run_are_counted_without_a_run_record() -> None:
    pool = Event(type="pool.registered", source="pool", run_id="connection:abc", tenant="t1")
    folded = fold([pool], {})
    assert folded.runs == {}
    assert [s["events"] for s in folded.rollups.values()] == [1]
