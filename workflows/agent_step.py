"""One agent step in a child workflow: how the supervisor spawns its workers.

A child has its own history (so a large fan-out keeps the parent's small), can be seen
and cancelled on its own in the Temporal Web UI, and is cancelled with its parent.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.agents import AgentActivities
    from core.contracts import AgentResult, AgentTask, StepSpec
    from workflows.base import HEARTBEAT_TIMEOUT, TIMEOUT_GRACE, retry_policy


class AgentStepInput(BaseModel):
    task: AgentTask
    step: StepSpec
    agents_queue: str


@workflow.defn
class AgentStepWorkflow:
    @workflow.run
    async def run(self, inp: AgentStepInput) -> AgentResult:
        result: AgentResult = await workflow.execute_activity_method(
            AgentActivities.run_agent,
            inp.task,
            task_queue=inp.agents_queue,
            start_to_close_timeout=timedelta(seconds=inp.step.timeout_seconds) + TIMEOUT_GRACE,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=retry_policy(inp.step),
        )
        return result
