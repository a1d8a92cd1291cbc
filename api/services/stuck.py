"""Runs that cannot move: a workflow task that keeps failing (a bug, a value the workflow
code cannot handle) leaves the execution "running" for ever while Temporal retries it.
Such a run shows as `stuck`, with the failure, instead of as running."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client, WorkflowExecutionDescription

# How far back to look for the failure: it is recorded once, at the first failed attempt.
LOOK_BACK_EVENTS = 100


async def stuck_reason(client: Client, desc: WorkflowExecutionDescription) -> str | None:
    """Why the run's workflow task keeps failing, or None when it does not."""
    pending = desc.raw_description.pending_workflow_task
    if not desc.raw_description.HasField("pending_workflow_task") or pending.attempt < 2:
        return None
    request = GetWorkflowExecutionHistoryReverseRequest(
        namespace=client.namespace,
        maximum_page_size=LOOK_BACK_EVENTS,
    )
    request.execution.workflow_id = desc.id
    request.execution.run_id = desc.run_id
    history = await client.workflow_service.get_workflow_execution_history_reverse(request)
    for event in history.history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event.workflow_task_failed_event_attributes.failure
            messages = [failure.message]
            while failure.HasField("cause"):
                failure = failure.cause
                messages.append(failure.message)
            text = ": ".join(m.strip() for m in messages if m.strip()) or "the task failed"
            return f"{text} (workflow task attempt {pending.attempt})"
    return f"the workflow task has failed {pending.attempt - 1} time(s)"
