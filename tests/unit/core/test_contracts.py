from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.events import ENVELOPE_VERSION, Event
from core.specs import parse_spec

pytestmark = pytest.mark.unit


def test_a_command_string_is_split_like_a_shell_would() -> None:
    spec = parse_spec(
        {
            "name": "x",
            "steps": [
                {"name": "a", "agent": {"backend": "shell", "command": "echo 'two words' x"}}
            ],
        }
    )
    assert spec.steps[0].agent.command == ["echo", "two words", "x"]
    assert spec.pattern == "pipeline" and spec.steps[0].retry.max_attempts == 1


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"name": "UPPER"}, ("name",)),
        (
            {
                "steps": [
                    {
                        "name": "a",
                        "agent": {"backend": "shell", "command": "echo"},
                        "timeout_seconds": 0,
                    }
                ]
            },
            ("steps", 0, "timeout_seconds"),
        ),
        (
            {
                "steps": [
                    {
                        "name": "a",
                        "agent": {"backend": "shell", "command": "echo"},
                        "retry": {"max_attempts": 0},
                    }
                ]
            },
            ("steps", 0, "retry", "max_attempts"),
        ),
        ({"budget": 3}, ("budget",)),
    ],
)
def test_invalid_specs_name_the_field(change: dict[str, object], where: tuple[object, ...]) -> None:
    raw = {
        "name": "x",
        "steps": [{"name": "a", "agent": {"backend": "shell", "command": "echo"}}],
        **change,
    }
    with pytest.raises(ValidationError) as exc:
        parse_spec(raw)
    # The first element of a location is the pattern (the union tag).
    assert where in [err["loc"][1:] for err in exc.value.errors()]


def test_duplicate_step_names_are_rejected() -> None:
    step = {"name": "a", "agent": {"backend": "shell", "command": "echo"}}
    with pytest.raises(ValidationError, match="used twice"):
        parse_spec({"name": "x", "steps": [step, step]})


def test_event_envelope_round_trips_and_is_keyed_by_run() -> None:
    event = Event(type="step.completed", source="test", run_id="r-1", step="a", data={"n": 1})
    again = Event.decode(event.encode())
    assert again == event
    assert event.key() == b"r-1" and event.version == ENVELOPE_VERSION and len(event.id) == 32
