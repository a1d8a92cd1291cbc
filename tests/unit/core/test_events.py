"""The event envelope: its published schema, and a reader of every older version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.events import ENVELOPE_VERSION, Event, event_schema

pytestmark = pytest.mark.unit

# A step.completed event exactly as version 1 of the envelope published it.
V1_STEP_COMPLETED = {
    "version": 1,
    "id": "4f1c",
    "type": "step.completed",
    "time": "2026-11-01T10:00:00Z",
    "source": "worker/agents",
    "run_id": "pipeline-1",
    "tenant": "acme",
    "step": "review",
    "correlation_id": None,
    "data": {
        "index": 1,
        "attempt": 1,
        "duration_ms": 812.5,
        "output_size": 20,
        "input_tokens": 120,
        "output_tokens": 30,
        "cost_usd": 0.0021,
    },
}


def test_the_published_schema_file_is_current() -> None:
    published = Path(__file__).resolve().parents[3] / "docs" / "event.schema.json"
    assert json.loads(published.read_text()) == event_schema(), (
        "docs/event.schema.json is stale: regenerate it with `acc events schema`"
    )
    assert event_schema()["properties"]["version"]["default"] == ENVELOPE_VERSION


def test_a_version_1_event_reads_as_the_current_version() -> None:
    event = Event.decode(json.dumps(V1_STEP_COMPLETED).encode())
    assert event.version == ENVELOPE_VERSION
    assert event.tokens == 150 and event.cost_usd == pytest.approx(0.0021)
    assert event.agent is None and event.trace_id is None
    assert event.data["duration_ms"] == 812.5  # data itself is untouched
    started = {**V1_STEP_COMPLETED, "type": "step.started", "data": {"backend": "llm"}}
    assert Event.decode(json.dumps(started)).agent == "llm"
    # No version at all: the first one.
    unversioned = {k: v for k, v in V1_STEP_COMPLETED.items() if k != "version"}
    assert Event.decode(json.dumps(unversioned)).tokens == 150


def test_the_current_version_round_trips_and_newer_fields_are_ignored() -> None:
    event = Event(
        type="step.completed",
        source="t",
        run_id="r",
        agent="llm:gpt-4o",
        cost_usd=0.5,
        tokens=10,
        trace_id="ab" * 16,
    )
    assert Event.decode(event.encode()) == event
    newer = {**json.loads(event.encode()), "version": ENVELOPE_VERSION + 1, "region": "eu"}
    assert Event.decode(json.dumps(newer)).agent == "llm:gpt-4o"


@pytest.mark.parametrize(
    "raw", [b"not json", b"[1, 2]", b'{"version": 0, "type": "run.started"}', b'{"version": 2}']
)
def test_anything_else_is_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        Event.decode(raw)
