"""Acting on a running run: cancel it, answer what it waits for, send it an event.

`cancel` always ends a run: it asks the workflow to cancel (its running step is stopped,
a saga compensates), and terminates it, with the reason recorded in its history, when it
has not ended after ACC_CANCEL_GRACE_SECONDS, when it is stuck, or when it is cancelled a
second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from api.services.runs import RunAccepted, RunView, describe, links, run_handle, run_status, summary
from api.services.stuck import stuck_reason
from core import temporal
from core.contracts import Decision, ExternalEvent, RunState
from core.errors import Conflict, ServiceUnavailable
from core.settings import Settings

log = logging.getLogger(__name__)


class Cancellations:
    """Terminations scheduled for runs that were asked to cancel, one task each."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self._pending: set[asyncio.Task[None]] = set()

    def schedule(self, handle: WorkflowHandle[Any, RunState]) -> None:
        task = asyncio.get_running_loop().create_task(self._terminate_later(handle))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _terminate_later(self, handle: WorkflowHandle[Any, RunState]) -> None:
        with contextlib.suppress(TimeoutError, Exception):
            await asyncio.wait_for(handle.result(), self.grace_seconds)
            return  # it ended by itself (cancelled, or finished first)
        try:
            desc = await handle.describe()
            if desc.status == WorkflowExecutionStatus.RUNNING:
                reason = f"cancel requested; the run had not stopped {self.grace_seconds:g}s later"
                await handle.terminate(reason=reason)
                log.warning("run %s terminated: %s", handle.id, reason)
        except RPCError as exc:
            log.warning("run %s: terminating after the cancel grace failed: %s", handle.id, exc)


async def cancel_run(
    client: Client, settings: Settings, cancellations: Cancellations, tenant: str, run_id: str
) -> RunAccepted:
    handle, desc = await running(client, tenant, run_id)
    async with _ended_meanwhile(client, tenant, run_id):
        stuck = await stuck_reason(client, desc)
        if stuck is not None:
            await handle.terminate(reason=f"cancelled while stuck: {stuck}")
        elif await _cancel_requested(client, desc):
            await handle.terminate(reason="cancelled a second time; terminated without waiting")
        else:
            await handle.cancel()
            cancellations.schedule(handle)
    return RunAccepted(id=run_id, status="running", links=links(settings, run_id))


@contextlib.asynccontextmanager
async def _ended_meanwhile(client: Client, tenant: str, run_id: str) -> AsyncIterator[None]:
    """Temporal refuses to act on a run that ended after it was seen running: answer the
    409 saying how it ended, as for a run that had already ended, not a 502."""
    try:
        yield
    except RPCError:
        await running(client, tenant, run_id)
        raise


async def _cancel_requested(client: Client, desc: WorkflowExecutionDescription) -> bool:
    history = await client.get_workflow_handle(desc.id, run_id=desc.run_id).fetch_history()
    return any(
        e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED
        for e in history.events
    )


async def running(
    client: Client, tenant: str, run_id: str
) -> tuple[WorkflowHandle[Any, RunState], WorkflowExecutionDescription]:
    """The run's handle and description, or a 404 / a 409 saying how it ended."""
    handle = run_handle(client, run_id)
    desc = await describe(handle, tenant)
    if desc.status != WorkflowExecutionStatus.RUNNING:
        status = run_status(desc)
        raise Conflict(f"run {run_id} is already {status}", {"status": status})
    return handle, desc


async def decide(
    client: Client, settings: Settings, tenant: str, run_id: str, decision: Decision
) -> RunView:
    """Approve or reject what a waiting run waits for (a Temporal update)."""
    handle, desc = await running(client, tenant, run_id)
    stuck = await stuck_reason(client, desc)
    if stuck is not None:
        message = f"run {run_id} is stuck ({stuck}); it cannot act on a decision: cancel it"
        raise Conflict(message, {"id": run_id, "status": "stuck"})
    try:
        async with (
            _ended_meanwhile(client, tenant, run_id),
            asyncio.timeout(settings.DECISION_TIMEOUT_SECONDS),
        ):
            state = await handle.execute_update("decide", decision, result_type=RunState)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        # No worker took the run's next task in time (all busy, or none running); the SDK
        # turns the timeout's cancellation into its own error. The update may still apply
        # when a worker does: say so rather than hold the caller.
        wait = settings.DECISION_TIMEOUT_SECONDS
        raise ServiceUnavailable(
            f"run {run_id} did not take the decision within {wait:g}s: its workers are busy "
            "or down. It may still apply; GET the run, and send it again if it still waits",
            {"id": run_id, "waited_seconds": wait},
        ) from None
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise Conflict(f"run {run_id}: {message}", {"id": run_id}) from exc
    return RunView(**summary(settings, await describe(handle)).model_dump()).fill(state)


async def send_event(client: Client, tenant: str, run_id: str, event: ExternalEvent) -> None:
    """Hand an event to an event-driven run (deduplicated by its id inside the run)."""
    handle, desc = await running(client, tenant, run_id)
    if desc.typed_search_attributes.get(temporal.PATTERN) != "event-driven":
        raise Conflict(f"run {run_id} is not event-driven; it takes no events", {"id": run_id})
    async with _ended_meanwhile(client, tenant, run_id):
        await handle.signal("event", event)
