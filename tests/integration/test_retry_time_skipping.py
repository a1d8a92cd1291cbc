"""Step retry policies, with the time-skipping server so minutes of backoff take no time."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from temporalio.testing import WorkflowEnvironment

from core.contracts import RunInput, RunState
from core.settings import Settings
from core.specs import parse_spec
from tests.conftest import running_workers
from workflows.pipeline import PipelineWorkflow

pytestmark = pytest.mark.integration

# Fails on its first two attempts, succeeds on the third; the count lives in the run's
# working directory, which every attempt shares.
FLAKY = (
    "import pathlib, sys; p = pathlib.Path('attempts'); "
    "n = int(p.read_text()) if p.exists() else 0; p.write_text(str(n + 1)); "
    "print(n + 1); sys.exit(0 if n >= 2 else 1)"
)


async def test_a_flaky_step_is_retried_with_backoff_until_it_passes(
    time_skipping_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    spec = parse_spec(
        {
            "name": "flaky",
            "steps": [
                {
                    "name": "flaky",
                    "agent": {"backend": "shell", "command": ["python3", "-c", FLAKY]},
                    "retry": {"max_attempts": 3, "initial_interval_seconds": 600},
                }
            ],
        }
    )
    run_id = f"flaky-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    async with running_workers(time_skipping_env.client, settings):
        state: RunState = await time_skipping_env.client.execute_workflow(
            PipelineWorkflow.run,
            RunInput(run_id=run_id, tenant="t", spec=spec, agents_queue=settings.agents_queue),
            id=run_id,
            task_queue=settings.ORCHESTRATION_QUEUE,
        )
    assert state.status == "completed"
    assert state.output is not None and state.output.text.strip() == "3"
    # 600 s + 1200 s of backoff were skipped, not waited for.
    assert time.monotonic() - started < 60
