"""The worker killed with SIGKILL over and over while runs of every pattern go on: every
run completes and no step that finished runs again."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.driver import Stack, worker_kills
from tests.support.stack import acc_up, stack_env

pytestmark = pytest.mark.chaos

KILLS = 20


def test_every_run_completes_and_no_finished_step_runs_twice_across_worker_kills(
    tmp_path: Path,
) -> None:
    env = stack_env(tmp_path)
    with acc_up(tmp_path, env):
        stack = Stack(f"http://127.0.0.1:{env['ACC_API_PORT']}", tmp_path / ".acc")
        outcome = worker_kills(stack, kills=KILLS, every=6.0, seconds=1.0)
        restarts = stack.restarts()
    assert outcome.not_completed == {}
    assert outcome.runs == outcome.completed >= KILLS
    assert outcome.steps_repeated == []  # a double finish only where a kill beat the receipt
    assert restarts.get("worker") == KILLS
    # The restarted worker polls again (how fast is benchmarks/chaos.py's to measure; on a
    # busy machine a Python start-up alone can take seconds).
    assert max(outcome.recovery_seconds) < 60
    print(f"\nchaos: {outcome}")
