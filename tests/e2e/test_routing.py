"""Routing as a user meets it: the example agents file, `acc agents`, `acc route --dry-run`
and a run of routed steps, all through the stack `acc up` started (the CLI asks the API)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import acc_up, stack_env

pytestmark = pytest.mark.e2e

ROUTING = Path(__file__).resolve().parents[2] / "examples" / "routing"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("routing")
    env = stack_env(tmp, ACC_AGENTS_FILE=str(ROUTING / "agents.yaml"), COLUMNS="200")
    with acc_up(tmp, env):
        yield env


def acc(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True, timeout=90
    )


def test_acc_agents_lists_the_declared_agents(env: dict[str, str]) -> None:
    out = acc(env, "agents")
    assert out.returncode == 0, out.stderr
    for name in ("quick-linter", "careful-reviewer", "second-reviewer"):
        assert name in out.stdout


def test_route_dry_run_shows_each_routed_step_and_records_nothing(env: dict[str, str]) -> None:
    out = acc(env, "route", "--dry-run", str(ROUTING / "routed-review.yaml"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "steps[0] (lint)" in out.stdout and "quick-linter" in out.stdout
    assert "careful-reviewer" in out.stdout  # the best reviewer while all are idle
    text = acc(env, "route", "--dry-run", "hello", "--capability", "nothing-has-it")
    assert text.returncode == 0 and "quick-linter" in text.stdout and "fallback" in text.stdout


def test_a_run_of_routed_steps_uses_the_routers_choices(env: dict[str, str]) -> None:
    out = acc(env, "run", str(ROUTING / "routed-review.yaml"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "review: approve" in out.stdout
