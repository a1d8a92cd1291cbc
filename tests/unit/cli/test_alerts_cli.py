"""`acc alerts create --escalate`: flags read into escalation steps, a bad one named."""

from __future__ import annotations

import pytest
import typer

from cli.alerts import _steps


def test_escalate_flags_make_steps_by_delay() -> None:
    steps = _steps(
        [
            "900=webhook:https://example.com/page",
            "300=email:mailto:oncall@example.com",
            "900=slack:https://hooks.example.com/x",
        ]
    )
    assert steps == [
        {
            "after_seconds": 300,
            "notify": [{"channel": "email", "url": "mailto:oncall@example.com"}],
        },
        {
            "after_seconds": 900,
            "notify": [
                {"channel": "webhook", "url": "https://example.com/page"},
                {"channel": "slack", "url": "https://hooks.example.com/x"},
            ],
        },
    ]


def test_a_bad_escalate_flag_says_the_form(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit):
        _steps(["soon=pager:x"])
    assert "SECONDS=CHANNEL:TARGET" in capsys.readouterr().err
