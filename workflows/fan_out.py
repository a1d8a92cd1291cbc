"""A bounded share of a large fan-out, in a child workflow of its own.

A scatter-gather with more jobs than the run's `fan_out_batch` runs them in batches: each
batch child runs its jobs as `run_agent` activities (at most `max_concurrency` at once),
keeps every job's output in the artifact store, writes its compact results there too
(`store_batch`), and returns only that reference and the counts. However many jobs a run
has, each history stays bounded: the parent holds one child per batch, each child at
most `fan_out_batch` activities.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from core.contracts import (
        FAN_OUT_BATCH_WORKFLOW,
        STORE_BATCH,
        AgentTask,
        BatchInput,
        BatchJob,
        BatchResult,
        BatchResults,
        JobResult,
        Output,
        Usage,
    )
    from workflows import steps

ERRORS_KEPT = 5


@workflow.defn(name=FAN_OUT_BATCH_WORKFLOW)
class FanOutBatchWorkflow:
    @workflow.run
    async def run(self, inp: BatchInput) -> BatchResult:
        slots = asyncio.Semaphore(inp.max_concurrency)
        done = 0

        async def one(offset: int, job: BatchJob) -> JobResult:
            nonlocal done
            index, step = inp.first_index + offset, inp.steps[job.step]
            outcome = JobResult(index=index, agent=step.name, task_index=job.task_index)
            async with slots:
                try:
                    task = _task(inp, index, job)
                    result = await steps.run_agent(task, step, inp.agents_queue)
                    outcome.output, outcome.usage = result.output, result.usage
                except Exception as err:  # ActivityError: the job failed after its retries
                    outcome.error = steps.reason(err)
                finally:
                    done += 1
                    workflow.set_current_details(f"{done} of {len(inp.jobs)} jobs done")
            return outcome

        results = await asyncio.gather(*(one(n, job) for n, job in enumerate(inp.jobs)))
        ref: str = await workflow.execute_activity(
            STORE_BATCH,
            BatchResults(tenant=inp.tenant, results=list(results)),
            result_type=str,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=10),
        )
        failed = [r for r in results if r.error is not None]
        usage = sum((r.usage for r in results), Usage())
        return BatchResult(
            results=ref,
            succeeded=len(results) - len(failed),
            failed=len(failed),
            usage=usage,
            errors=[f"{r.agent} on task {r.task_index}: {r.error}" for r in failed[:ERRORS_KEPT]],
        )


def _task(inp: BatchInput, index: int, job: BatchJob) -> AgentTask:
    step = inp.steps[job.step]
    given = Output.of(job.task)
    template = step.input
    context: dict[str, Output] = {}
    if template is not None:  # fan-out jobs see their task and the run's input only
        outputs = {"input": given, "run.input": Output.of(inp.run_input)}
        hint = "the jobs of a large fan-out see only {{input}} and {{run.input}}"
        context = steps.template_context(step.name, template, outputs, hint)
    return AgentTask(
        run_id=inp.run_id,
        tenant=inp.tenant,
        step_index=index,
        step_name=step.name,
        group=f"task-{job.task_index}",
        agent=step.agent,
        input=given,
        template=template,
        context=context,
        timeout_seconds=step.timeout_seconds,
        retry=step.retry,
        idempotent=step.idempotent,
        store_output=True,
    )
