"""`acc events tail`: its filters, --since and the readable line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from cli.events import Filter, parse_since, render
from cli.main import app
from core.events import Event

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("10m", NOW - timedelta(minutes=10)),
        ("2h", NOW - timedelta(hours=2)),
        ("1.5d", NOW - timedelta(hours=36)),
        ("30s", NOW - timedelta(seconds=30)),
        ("2026-11-30T11:00:00", datetime(2026, 11, 30, 11, tzinfo=UTC)),
    ],
)
def test_since_takes_durations_and_times(given: str, expected: datetime) -> None:
    assert parse_since(given, NOW) == expected


def test_a_bad_since_says_what_it_takes() -> None:
    with pytest.raises(ValueError, match="30s, 10m"):
        parse_since("yesterday", NOW)


def test_filters_combine() -> None:
    old = Event(type="step.failed", source="t", run_id="a", time=NOW - timedelta(hours=1))
    new = Event(type="step.completed", source="t", run_id="a", tenant="x", time=NOW)
    other = Event(type="run.completed", source="t", run_id="b", time=NOW)
    events = [old, new, other]
    assert [e for e in events if Filter(run="a")(e)] == [old, new]
    assert [e for e in events if Filter(types=("step",))(e)] == [old, new]
    assert [e for e in events if Filter(types=("run.*", "step.failed"))(e)] == [old, other]
    assert [e for e in events if Filter(since=NOW - timedelta(minutes=5))(e)] == [new, other]
    assert [e for e in events if Filter(tenant="x")(e)] == [new]


def test_a_line_shows_step_agent_cost_and_tokens() -> None:
    event = Event(
        type="step.completed",
        source="t",
        run_id="run-1",
        step="review",
        agent="llm:gpt-4o",
        cost_usd=0.0123,
        tokens=321,
        time=NOW,
        data={"duration_ms": 5.5, "cost_usd": 0.0123},
    )
    line = render(event)
    assert "12:00:00.000" in line and "run-1" in line and "step.completed" in line
    assert "step=review" in line and "agent=llm:gpt-4o" in line
    assert "cost=$0.0123" in line and "tokens=321" in line and "duration_ms=5.5" in line


def test_the_command_refuses_a_bad_since_before_reaching_the_broker() -> None:
    result = CliRunner().invoke(
        app, ["events", "tail", "--since", "yesterday"], env={"ACC_KAFKA_BOOTSTRAP": "x:1"}
    )
    assert result.exit_code == 1
    assert "give a duration like 30s" in result.output and "Traceback" not in result.output
