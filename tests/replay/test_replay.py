"""Saved histories of every pattern replay against the current workflow code.

A change that would break running workflows (a different sequence of activities, timers
or child workflows for the same history) fails here with a NondeterminismError.
Histories are recorded by `python -m tests.replay.record`, one folder per released version
(`histories/<version>/`): every version's histories replay, as runs started on an older
release may still be running on this one.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from core.history import parse
from workflows import WORKFLOWS

pytestmark = pytest.mark.unit
ROOT = Path(__file__).parent / "histories"
HISTORIES = sorted(ROOT.glob("*/*.json"))
IDS = [f"{p.parent.name}/{p.stem}" for p in HISTORIES]


def test_this_release_has_a_saved_history_of_every_pattern() -> None:
    names = {p.stem for p in HISTORIES if p.parent.name == version("acc")}
    assert {
        "pipeline",
        "scatter-gather",
        "consensus",
        "saga",
        "supervisor",
        "event-driven",
        "approval",
        "fork",
    } <= names


@pytest.mark.parametrize("path", HISTORIES, ids=IDS)
async def test_saved_history_replays_without_nondeterminism(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


@pytest.mark.parametrize("path", HISTORIES, ids=IDS)
def test_saved_history_reads_as_a_timeline(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    timeline = parse(history).timeline
    assert timeline.entries[0].kind == "run"
    assert any(e.kind == "step" for e in timeline.entries) or path.stem == "fork"
