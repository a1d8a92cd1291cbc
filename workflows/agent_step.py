"""One agent step in a child workflow: how the supervisor spawns its workers.

A child has its own history (so a large fan-out keeps the parent's small), can be seen
and cancelled on its own in the Temporal Web UI, and is cancelled with its parent.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core.contracts import AGENT_STEP_WORKFLOW, AgentResult, AgentStepInput
    from workflows import steps


@workflow.defn(name=AGENT_STEP_WORKFLOW)
class AgentStepWorkflow:
    @workflow.run
    async def run(self, inp: AgentStepInput) -> AgentResult:
        workflow.set_current_details(f"running {steps.summary(inp.task)}")
        return await steps.run_agent(inp.task, inp.step, inp.agents_queue)
