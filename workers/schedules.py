"""The Temporal Schedules acc keeps: the retention job (workflows/retention.py).

An orchestration worker creates the schedule when it starts, or brings an existing one in
line with its settings, so the schedule follows ACC_RETENTION_* without a separate step;
starting many workers at once is harmless (the same schedule, the same update).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError

from core import temporal
from core.contracts import RETENTION_SCHEDULE, RETENTION_WORKFLOW, RetentionInput
from core.settings import Settings

log = logging.getLogger(__name__)


def retention_schedule_id(settings: Settings) -> str:
    return f"{RETENTION_SCHEDULE}-{settings.ORCHESTRATION_QUEUE}"


def retention_schedule(settings: Settings) -> Schedule:
    every = timedelta(hours=settings.RETENTION_EVERY_HOURS)
    inp = RetentionInput(
        days=settings.RETENTION_DAYS,
        workspaces_hours=settings.WORKSPACES_KEEP_HOURS,
        agents_queue=settings.agents_queue,
    )
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RETENTION_WORKFLOW,
            inp,
            id=retention_schedule_id(settings),  # the schedule appends the start time
            task_queue=settings.ORCHESTRATION_QUEUE,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_retention(client: Client, settings: Settings) -> None:
    """At a worker's start: the retention schedule, and a warning when the namespace keeps
    histories for another number of days than ACC_RETENTION_DAYS. Temporal refusing
    (a namespace this credential may not change) is logged, not fatal: runs still run."""
    try:
        await ensure_retention_schedule(client, settings)
        kept = await temporal.retention(client)
    except RPCError as exc:
        log.warning("retention schedule not set up: %s", exc)
        return
    if kept != timedelta(days=settings.RETENTION_DAYS):
        log.warning(
            "namespace %s keeps run histories %s, ACC_RETENTION_DAYS is %d: run `temporal "
            "operator namespace update --retention %dh %s` to match",
            client.namespace,
            kept,
            settings.RETENTION_DAYS,
            settings.RETENTION_DAYS * 24,
            client.namespace,
        )


async def ensure_retention_schedule(client: Client, settings: Settings) -> None:
    """Create the retention schedule, or update it to these settings."""
    schedule_id = retention_schedule_id(settings)
    schedule = retention_schedule(settings)
    try:
        await client.create_schedule(schedule_id, schedule)
        log.info("retention schedule %s created", schedule_id)
    except ScheduleAlreadyRunningError:

        def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
            # Kept as it is: whether an operator paused it, and why.
            state = current.description.schedule.state
            return ScheduleUpdate(schedule=dataclasses.replace(schedule, state=state))

        await client.get_schedule_handle(schedule_id).update(update)
