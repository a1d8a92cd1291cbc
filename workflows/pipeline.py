"""Pipeline: steps run one after another; each reads the previous step's output.

The first step reads the run's `input`. A step's `input` template can instead pick any
earlier output ({{steps.NAME.output}}) or the run's input ({{run.input}}). A failed step
(after its retry policy) fails the run and leaves the later steps pending.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core.contracts import WORKFLOW_OF_PATTERN, Output, RunInput, RunState
    from core.specs import PipelineSpec
    from workflows.base import PatternWorkflow


@workflow.defn(name=WORKFLOW_OF_PATTERN["pipeline"])
class PipelineWorkflow(PatternWorkflow):
    @workflow.run
    async def run(self, inp: RunInput) -> RunState:
        return await self.execute(inp)

    async def body(self) -> Output:
        spec = self.inp.spec
        assert isinstance(spec, PipelineSpec)
        self.run_state.pending = [step.name for step in spec.steps]
        output = Output.of(spec.input)
        for step in spec.steps:
            output = (await self.agent_step(step, output)).output
        return output
