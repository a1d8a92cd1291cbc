"""`run_agent`'s attempts on real SQL, Redis and broker, driven with the SDK's activity
environment so each attempt's number and inherited heartbeat details are chosen by the
test: receipts, the agent's own failures against the step's retry, lost workers."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.agents import AgentActivities
from agents.base import AgentContext, AgentOutcome
from agents.runtime import AgentRuntime
from core import db
from core import redis as redis_client
from core.artifacts import ArtifactStore
from core.bus import EventBus
from core.contracts import AgentResult, AgentTask, Output
from core.receipts import ReceiptStore
from core.settings import Settings
from core.specs import LOST_WORKER_RETRIES

pytestmark = pytest.mark.integration


class Counting:
    """A backend that counts its calls and answers as told."""

    def __init__(self) -> None:
        self.calls = 0
        self.error: str | None = None

    async def run(self, ctx: AgentContext) -> AgentOutcome:
        self.calls += 1
        code = 1 if self.error else 0
        return AgentOutcome(text=f"call {self.calls}", exit_code=code, error=self.error)


@dataclasses.dataclass
class Harness:
    activities: AgentActivities
    receipts: ReceiptStore
    backend: Counting
    beats: list[Any]

    async def attempt(self, task: AgentTask, attempt: int, details: Any = None) -> AgentResult:
        env = ActivityEnvironment()
        env.info = dataclasses.replace(
            env.info, attempt=attempt, heartbeat_details=[details] if details else []
        )
        env.on_heartbeat = lambda *args: self.beats.append(args[0] if args else None)
        result: AgentResult = await env.run(self.activities.run_agent, task)
        return result


@pytest.fixture
async def harness(make_settings: Callable[..., Settings]) -> AsyncIterator[Harness]:
    settings = make_settings()
    engine = db.create_engine(settings)
    await db.migrate(engine, settings.DATABASE_SCHEMA)
    bus, redis = EventBus.from_settings(settings), redis_client.connect(settings)
    await bus.start()
    backend = Counting()
    runtime = AgentRuntime(settings, redis, {"shell": backend})
    receipts = ReceiptStore(engine)
    activities = AgentActivities(
        settings, bus, ArtifactStore(engine, settings.INLINE_OUTPUT_LIMIT), receipts, runtime
    )
    yield Harness(activities, receipts, backend, [])
    await bus.stop()
    await redis.aclose()
    await engine.dispose()


def task(**fields: Any) -> AgentTask:
    values: dict[str, Any] = {
        "run_id": "run-1",
        "tenant": "t",
        "step_index": 0,
        "step_name": "s",
        "agent": {"backend": "shell", "command": ["true"]},
        **fields,
    }
    return AgentTask.model_validate(values)


async def test_a_step_that_finished_before_its_worker_died_is_reported_from_its_receipt(
    harness: Harness,
) -> None:
    first = await harness.attempt(task(), attempt=1)
    assert harness.backend.calls == 1 and first.output.text == "call 1"
    # The worker died before Temporal heard of attempt 1: attempt 2 inherits no failures.
    again = await harness.attempt(task(), attempt=2)
    assert harness.backend.calls == 1  # not run again
    assert again.output == first.output


async def test_after_a_reported_failure_the_step_runs_again(harness: Harness) -> None:
    harness.backend.error = "exit 1"
    with pytest.raises(ApplicationError) as caught:
        await harness.attempt(task(retry={"max_attempts": 3, "initial_interval_seconds": 7}), 1)
    assert not caught.value.non_retryable
    assert caught.value.next_retry_delay == timedelta(seconds=7)
    assert harness.beats[-1] == {"failures": 1, "failed_attempt": 1}
    harness.backend.error = None
    result = await harness.attempt(task(), attempt=2, details=harness.beats[-1])
    assert harness.backend.calls == 2 and result.output.text == "call 2"


async def test_the_last_allowed_agent_failure_is_final(harness: Harness) -> None:
    harness.backend.error = "exit 1"
    details = {"failures": 1, "failed_attempt": 3}  # attempt 2 was a lost worker
    with pytest.raises(ApplicationError) as caught:
        await harness.attempt(task(retry={"max_attempts": 2}), attempt=4, details=details)
    assert caught.value.non_retryable and caught.value.message == "exit 1"
    assert harness.beats[-1] == {"failures": 2, "failed_attempt": 4}


async def test_a_lost_worker_does_not_use_up_the_steps_attempts(harness: Harness) -> None:
    # Attempts 1 and 2 were lost mid-step (no receipt): attempt 3 runs with max_attempts 1.
    result = await harness.attempt(task(retry={"max_attempts": 1}), attempt=3)
    assert result.output.text == "call 1"


async def test_a_non_idempotent_step_interrupted_by_a_lost_worker_fails_for_good(
    harness: Harness,
) -> None:
    with pytest.raises(ApplicationError) as caught:
        await harness.attempt(task(idempotent=False), attempt=2)
    assert caught.value.type == "StepInterrupted" and caught.value.non_retryable
    assert harness.backend.calls == 0


async def test_a_step_whose_worker_keeps_dying_gives_up(harness: Harness) -> None:
    with pytest.raises(ApplicationError) as caught:
        await harness.attempt(task(), attempt=LOST_WORKER_RETRIES + 2)
    assert caught.value.type == "WorkerLostTooOften" and caught.value.non_retryable


async def test_a_receipt_of_a_failure_that_never_reported_is_reported_now(
    harness: Harness,
) -> None:
    result = AgentResult(output=Output.of("half"), exit_code=2)
    await harness.receipts.put("run-1", 0, 1, result, "s exited with code 2")
    with pytest.raises(ApplicationError) as caught:
        await harness.attempt(task(retry={"max_attempts": 2}), attempt=2)
    assert caught.value.message == "s exited with code 2" and not caught.value.non_retryable
    assert harness.backend.calls == 0
