"""Supervisor (the dual-agent manager/worker loop, scaled out).

Each iteration: the manager plans subtasks from the run's input (plus the reviewer's
feedback after the first iteration); the complexity analyzer decides how many workers to
spawn and with which capability (`workflows/complexity.py`), within the spawn limit;
workers run as child workflows, at most `max_parallel_workers` at once; the reviewer
scores the combined result 0..1. The run completes as soon as the score reaches
`quality_threshold` (default 0.7), and fails with the best score after `max_iterations`.
A worker that fails does not stop the iteration: the reviewer sees its error. With
`feedback_to_workers`, each worker's task also carries the reviewer's feedback, so a
worker fixes its own output; the reviewer may be a `review` step (acc's code review), whose
score is 1 only when no blocking finding remains.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from core.contracts import WORKFLOW_OF_PATTERN, Output, RunInput, RunState
    from core.specs import SupervisorSpec
    from workflows import complexity
    from workflows.base import PatternWorkflow
    from workflows.scoring import parse_score


@workflow.defn(name=WORKFLOW_OF_PATTERN["supervisor"])
class SupervisorWorkflow(PatternWorkflow):
    @workflow.run
    async def run(self, inp: RunInput) -> RunState:
        return await self.execute(inp)

    async def body(self) -> Output:
        spec = self.inp.spec
        assert isinstance(spec, SupervisorSpec)
        carried = self.inp.carried
        first = carried.iteration if carried else 1
        feedback, best = (carried.feedback, carried.best) if carried else ("", 0.0)
        for iteration in range(first, spec.max_iterations + 1):
            if iteration > first and self.history_full():
                await self.continue_as_new(iteration=iteration, feedback=feedback, best=best)
            group = f"iteration-{iteration}"
            brief = spec.input
            if feedback:
                brief += f"\n\nReviewer feedback on the previous attempt:\n{feedback}"
            plan_text = (await self.agent_step(spec.manager, Output.of(brief), group=group)).output
            plan = complexity.plan(
                plan_text.text, list(spec.workers), spec.max_workers_per_iteration
            )
            for note in plan.notes:
                self.note(f"{group}: {note}")
            if not plan.assignments:
                raise ApplicationError(
                    "the manager planned no subtasks", type="EmptyPlan", non_retryable=True
                )
            combined = await self._work(spec, plan, group, feedback)
            review = await self.agent_step(spec.reviewer, Output.of(combined), group=group)
            score, feedback = parse_score(review.output.text)
            best = max(best, score)
            self.quality = score
            self.note(f"{group}: quality {score:.2f} (gate {spec.quality_threshold:.2f})")
            if score >= spec.quality_threshold:
                return Output.of(combined)
        raise ApplicationError(
            f"quality gate not passed after {spec.max_iterations} iteration(s): best score "
            f"{best:.2f} < {spec.quality_threshold:.2f}",
            type="QualityGateFailed",
            non_retryable=True,
        )

    async def _work(
        self, spec: SupervisorSpec, plan: complexity.Plan, group: str, feedback: str
    ) -> str:
        slots = asyncio.Semaphore(spec.max_parallel_workers)
        note = ""
        if spec.feedback_to_workers and feedback:
            note = f"\n\nReviewer feedback on the previous attempt:\n{feedback}"

        async def one(assignment: complexity.Assignment) -> str:
            step = spec.workers[assignment.capability]
            async with slots:
                try:
                    result = await self.child_step(
                        step,
                        Output.of(assignment.task + note),
                        group=group,
                        name=f"{step.name}",
                    )
                except ApplicationError as err:
                    return f"FAILED: {err.message}"
            return result.output.text.strip()

        answers = await asyncio.gather(*(one(a) for a in plan.assignments))
        return "\n\n".join(
            f"## {a.task}\n{answer}" for a, answer in zip(plan.assignments, answers, strict=True)
        )
