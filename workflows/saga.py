"""Saga: steps with compensations. When a step fails (or the run is cancelled), the steps
that completed are compensated in reverse order, each compensation reading the output of
the step it undoes. A compensation that fails is reported in the run's error and notes,
never swallowed; the remaining compensations still run.

Quality: 1.0 when every step completed; 0.0 for a saga that failed or was cancelled, however
many compensations succeeded: its work was undone (or half undone), and counting the
compensations as completed steps would score a rolled-back saga 0.8.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from core.contracts import WORKFLOW_OF_PATTERN, Output, RunInput, RunState
    from core.specs import SagaSpec, SagaStep
    from workflows.base import PatternWorkflow


@workflow.defn(name=WORKFLOW_OF_PATTERN["saga"])
class SagaWorkflow(PatternWorkflow):
    @workflow.run
    async def run(self, inp: RunInput) -> RunState:
        return await self.execute(inp)

    async def body(self) -> Output:
        spec = self.inp.spec
        assert isinstance(spec, SagaSpec)
        self.run_state.pending = [step.name for step in spec.steps]
        done: list[tuple[SagaStep, Output]] = []
        output = Output.of(spec.input)
        try:
            for step in spec.steps:
                output = (await self.agent_step(step, output)).output
                done.append((step, output))
        except ApplicationError as failure:
            self.quality = 0.0
            problems = await self._compensate(done)
            message = f"{failure.message}; compensated {len(done) - len(problems)} step(s)"
            if problems:
                message += "; compensation failed: " + "; ".join(problems)
            kind = "CompensationFailed" if problems else "Compensated"
            raise ApplicationError(message, type=kind, non_retryable=True) from failure
        except asyncio.CancelledError:
            self.quality = 0.0
            await self._compensate(done)
            raise
        return output

    async def _compensate(self, done: list[tuple[SagaStep, Output]]) -> list[str]:
        problems: list[str] = []
        for step, output in reversed(done):
            if step.compensate is None:
                self.note(f"{step.name} has no compensation")
                continue
            try:
                await self.agent_step(step.compensate, output, group="compensation")
                self.note(f"compensated {step.name}")
            except ApplicationError as err:
                problems.append(f"{step.name}: {err.message}")
                self.note(f"compensation of {step.name} failed: {err.message}")
        return problems
