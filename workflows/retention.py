"""Retention: what acc keeps about runs expires after ACC_RETENTION_DAYS.

The `acc-retention` Temporal Schedule (workers/schedules.py) starts this workflow every
ACC_RETENTION_EVERY_HOURS. It computes the cutoffs from its own start time and runs the
one `purge_expired` activity; the namespace's own retention removes the runs' histories
after the same number of days.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from core.contracts import (
        PURGE_EXPIRED,
        RETENTION_WORKFLOW,
        PurgeInput,
        PurgeResult,
        RetentionInput,
    )


@workflow.defn(name=RETENTION_WORKFLOW)
class RetentionWorkflow:
    @workflow.run
    async def run(self, inp: RetentionInput) -> PurgeResult:
        now = workflow.now()
        purge = PurgeInput(
            cutoff=now - timedelta(days=inp.days),
            workspaces_cutoff=now - timedelta(hours=inp.workspaces_hours),
        )
        result: PurgeResult = await workflow.execute_activity(
            PURGE_EXPIRED,
            purge,
            result_type=PurgeResult,
            task_queue=inp.agents_queue,
            start_to_close_timeout=timedelta(minutes=30),
            # Deleting again what is already gone is harmless: retry freely, with a pause.
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=30), maximum_attempts=5),
        )
        return result
