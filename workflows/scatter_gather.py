"""Scatter-gather: every agent on every task (the run's input when `tasks` is empty), at
most `max_concurrency` at a time, then a reducer over the successful answers:

- collect: a JSON list of every answer;
- majority: the most common answer (whitespace-trimmed), first seen wins a tie;
- best_score: the scorer step rates each answer 0..1 and the best one wins.

`quorum` is the number of successes needed (default: all); with `on_partial_failure:
fail` any failure fails the run.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from core.contracts import (
        REDUCE_BATCHES,
        WORKFLOW_OF_PATTERN,
        AgentResult,
        BatchResult,
        Output,
        ReduceInput,
        ReduceResult,
        RunInput,
        RunState,
    )
    from core.specs import ScatterGatherSpec, StepSpec
    from workflows.base import PatternWorkflow
    from workflows.scoring import parse_score


@workflow.defn(name=WORKFLOW_OF_PATTERN["scatter-gather"])
class ScatterGatherWorkflow(PatternWorkflow):
    @workflow.run
    async def run(self, inp: RunInput) -> RunState:
        return await self.execute(inp)

    async def body(self) -> Output:
        spec = self.inp.spec
        assert isinstance(spec, ScatterGatherSpec)
        tasks = spec.tasks or [spec.input]
        jobs = [(agent, n, task) for n, task in enumerate(tasks) for agent in spec.agents]
        if len(jobs) > self.inp.fan_out_batch:
            return await self._fan_out(spec, jobs)
        slots = asyncio.Semaphore(spec.max_concurrency)

        async def one(agent: StepSpec, n: int, task: str) -> AgentResult | ApplicationError:
            async with slots:
                try:
                    return await self.agent_step(agent, Output.of(task), group=f"task-{n}")
                except ApplicationError as err:
                    return err

        answers = await asyncio.gather(*(one(*job) for job in jobs))
        wins = [
            (job, a) for job, a in zip(jobs, answers, strict=True) if isinstance(a, AgentResult)
        ]
        failures = [a.message for a in answers if isinstance(a, ApplicationError)]
        need = spec.quorum or len(jobs)
        self.note(f"{len(wins)} of {len(jobs)} jobs succeeded (quorum {need})")
        if failures and spec.on_partial_failure == "fail":
            raise ApplicationError(
                f"{len(failures)} job(s) failed: {failures[0]}",
                type="PartialFailure",
                non_retryable=True,
            )
        if len(wins) < need:
            raise ApplicationError(
                f"quorum not reached: {len(wins)} of {len(jobs)} succeeded, {need} needed",
                type="QuorumNotReached",
                non_retryable=True,
            )
        if spec.reducer == "majority":
            return self._majority([a.output.text for _, a in wins])
        if spec.reducer == "best_score":
            assert spec.scorer is not None
            return await self._best(spec.scorer, [a.output for _, a in wins])
        collected = [
            {
                "agent": agent.name,
                "task": n,
                "output": a.output.text,
                "artifact": a.output.artifact_id,
            }
            for (agent, n, _), a in wins
        ]
        return Output.of(json.dumps(collected, indent=2))

    async def _fan_out(
        self, spec: ScatterGatherSpec, jobs: list[tuple[StepSpec, int, str]]
    ) -> Output:
        """Many jobs: batches of `fan_out_batch` in child workflows (workflows/fan_out.py),
        their results kept in the artifact store and reduced by an activity."""
        if spec.reducer == "best_score":
            raise ApplicationError(
                f"reducer best_score scores every answer with a step: at most "
                f"{self.inp.fan_out_batch} jobs (this run has {len(jobs)}); use collect or "
                "majority, or fewer tasks",
                type="FanOutTooLarge",
                non_retryable=True,
            )
        size = self.inp.fan_out_batch
        per_child = min(spec.max_concurrency, size)
        children = asyncio.Semaphore(max(1, spec.max_concurrency // per_child))
        batches = [jobs[i : i + size] for i in range(0, len(jobs), size)]

        async def one(n: int, batch: list[tuple[StepSpec, int, str]]) -> BatchResult:
            async with children:
                return await self.batch_step(n, batch, per_child)

        results = await asyncio.gather(*(one(n, b) for n, b in enumerate(batches)))
        wins = sum(r.succeeded for r in results)
        failures = [e for r in results for e in r.errors]
        failed = sum(r.failed for r in results)
        need = spec.quorum or len(jobs)
        self.note(f"{wins} of {len(jobs)} jobs succeeded in {len(batches)} batches (quorum {need})")
        if failed and spec.on_partial_failure == "fail":
            raise ApplicationError(
                f"{failed} job(s) failed: {failures[0]}", type="PartialFailure", non_retryable=True
            )
        if wins < need:
            raise ApplicationError(
                f"quorum not reached: {wins} of {len(jobs)} succeeded, {need} needed",
                type="QuorumNotReached",
                non_retryable=True,
            )
        reducer = "majority" if spec.reducer == "majority" else "collect"
        reduced: ReduceResult = await workflow.execute_activity(
            REDUCE_BATCHES,
            ReduceInput(
                tenant=self.inp.tenant, reducer=reducer, batches=[r.results for r in results]
            ),
            result_type=ReduceResult,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_attempts=5),
            summary=f"reduce {len(jobs)} answers ({spec.reducer})",
        )
        if reduced.quality is not None:
            self.quality = reduced.quality
        if reduced.note:
            self.note(reduced.note)
        return reduced.output

    def _majority(self, texts: list[str]) -> Output:
        counts = Counter(text.strip() for text in texts)
        winner, votes = counts.most_common(1)[0]
        self.quality = round(votes / len(texts), 4)
        self.note(f"majority: {votes} of {len(texts)} answers agree")
        return Output.of(winner)

    async def _best(self, scorer: StepSpec, outputs: list[Output]) -> Output:
        scored = []
        for n, output in enumerate(outputs):
            review = await self.agent_step(scorer, output, group="score", name=f"{scorer.name}")
            scored.append((parse_score(review.output.text)[0], n))
        best, n = max(scored, key=lambda item: (item[0], -item[1]))
        self.quality = best
        self.note(f"best_score: answer {n} scored {best:.2f}")
        return outputs[n]
