"""Pipeline: steps run one after another; each step reads the previous step's output.

The first step reads the run's `input`. A failed step (after its retry policy) fails
the run and leaves the later steps pending; cancelling the run cancels the running
step, whose process group is killed by the agent activity.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.agents import AgentActivities
    from activities.events import RunEventActivities
    from core.contracts import (
        AgentTask,
        Output,
        RunEvent,
        RunInput,
        RunState,
        StepSpec,
        StepState,
    )

HEARTBEAT_TIMEOUT = timedelta(seconds=5)
# The agent enforces the step's own timeout; Temporal's is a backstop a little later.
TIMEOUT_GRACE = timedelta(seconds=15)
EVENT_TIMEOUT = timedelta(seconds=10)


@workflow.defn
class PipelineWorkflow:
    def __init__(self) -> None:
        self._state: RunState | None = None

    @workflow.query
    def state(self) -> RunState:
        if self._state is None:
            raise ApplicationError("run has not started yet", type="NotStarted")
        return self._state

    @workflow.run
    async def run(self, inp: RunInput) -> RunState:
        spec = inp.spec
        state = self._state = RunState(
            run_id=inp.run_id,
            name=spec.name,
            pattern=spec.pattern,
            tenant=inp.tenant,
            steps=[StepState(name=step.name) for step in spec.steps],
        )
        await self._announce(inp, "run.started")
        output = Output(text=spec.input, size=len(spec.input.encode()))
        try:
            for index, step in enumerate(spec.steps):
                output = await self._run_step(inp, index, step, output)
        except asyncio.CancelledError:
            state.status = "cancelled"
            await self._announce(inp, "run.cancelled")
            raise
        except ApplicationError as err:
            state.status, state.error = "failed", err.message
            await self._announce(inp, "run.failed", error=err.message)
            raise
        state.status, state.current_step, state.output = "completed", None, output
        await self._announce(inp, "run.completed")
        return state

    async def _run_step(self, inp: RunInput, index: int, step: StepSpec, given: Output) -> Output:
        assert self._state is not None
        self._state.current_step = index
        record = self._state.steps[index]
        record.status, record.started_at = "running", workflow.now()
        task = AgentTask(
            run_id=inp.run_id,
            tenant=inp.tenant,
            step_index=index,
            step_name=step.name,
            agent=step.agent,
            input=given,
            timeout_seconds=step.timeout_seconds,
        )
        try:
            result = await workflow.execute_activity_method(
                AgentActivities.run_agent,
                task,
                task_queue=inp.agents_queue,
                start_to_close_timeout=timedelta(seconds=step.timeout_seconds) + TIMEOUT_GRACE,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=RetryPolicy(
                    maximum_attempts=step.retry.max_attempts,
                    initial_interval=timedelta(seconds=step.retry.initial_interval_seconds),
                    backoff_coefficient=step.retry.backoff,
                    non_retryable_error_types=["CommandRejected"],
                ),
            )
        except (ActivityError, asyncio.CancelledError) as err:
            record.ended_at = workflow.now()
            if is_cancelled_exception(err):
                record.status = "cancelled"
                raise asyncio.CancelledError from err
            assert isinstance(err, ActivityError)
            record.status, record.error = "failed", _reason(err)
            raise ApplicationError(
                f"step {step.name!r} failed: {record.error}", type="StepFailed", non_retryable=True
            ) from err
        record.status, record.ended_at, record.result = "completed", workflow.now(), result
        return result.output

    async def _announce(self, inp: RunInput, kind: str, error: str | None = None) -> None:
        event = RunEvent.model_validate(
            {
                "run_id": inp.run_id,
                "tenant": inp.tenant,
                "type": kind,
                "pattern": inp.spec.pattern,
                "name": inp.spec.name,
                "error": error,
            }
        )
        await workflow.execute_local_activity_method(
            RunEventActivities.publish_run_event,
            event,
            start_to_close_timeout=EVENT_TIMEOUT,
            retry_policy=RetryPolicy(maximum_attempts=3),
        )


def _reason(err: ActivityError) -> str:
    """The agent's own message (e.g. "false exited with code 1"), not Temporal's wrapper."""
    return str(err.cause or err)
