"""Temporal history -> an agent-level timeline, and the recorded results a fork reuses.

Temporal's history is the source of truth for what happened in a run. This module reads
it (no workflow code runs): each `run_agent` activity and each agent child workflow is a
step with its index, input, attempts, result or error; signals and updates (events sent
to the run, approvals) and the run's start and end are entries too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from core.contracts import AgentResult, AgentTask, Decision, ExternalEvent, RunInput, Usage

EXCERPT = 500

E = EventType
CLOSED = {
    E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "completed",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "failed",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "cancelled",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "terminated",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "timed_out",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continued_as_new",
}


class TimelineEntry(BaseModel):
    kind: Literal["run", "step", "signal", "update"]
    name: str
    status: str
    time: datetime
    ended_at: datetime | None = None
    index: int | None = None
    group: str | None = None
    backend: str | None = None
    attempt: int | None = None
    input: str | None = None
    output: str | None = None
    output_artifact: str | None = None
    usage: Usage | None = None
    error: str | None = None


class Timeline(BaseModel):
    run_id: str
    workflow_type: str
    status: str
    entries: list[TimelineEntry]


class ParsedHistory(BaseModel):
    timeline: Timeline
    input: RunInput | None
    results: dict[int, AgentResult]


def _time(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def _decode(payloads: Payloads, kind: type[Any]) -> Any:
    values = pydantic_data_converter.payload_converter.from_payloads(
        list(payloads.payloads), [kind]
    )
    return values[0] if values else None


def _excerpt(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "…"


def _failure(failure: Failure) -> str:
    while failure.HasField("cause") and failure.cause.message:
        failure = failure.cause
    return failure.message


def parse(history: WorkflowHistory) -> ParsedHistory:
    entries: list[TimelineEntry] = []
    steps: dict[int, TimelineEntry] = {}  # scheduling event id -> entry
    results: dict[int, AgentResult] = {}
    run_input: RunInput | None = None
    workflow_type, status = "", "running"
    attrs: Any  # each event type has its own attributes message
    for event in history.events:
        kind, when = event.event_type, _time(event.event_time)
        if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            attrs = event.workflow_execution_started_event_attributes
            workflow_type = attrs.workflow_type.name
            run_input = (
                _decode(attrs.input, RunInput) if workflow_type != "AgentStepWorkflow" else None
            )
            entries.append(
                TimelineEntry(kind="run", name=workflow_type, status="started", time=when)
            )
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == "run_agent":
                steps[event.event_id] = _step(_decode(attrs.input, AgentTask), when)
                entries.append(steps[event.event_id])
        elif kind == E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            attrs = event.start_child_workflow_execution_initiated_event_attributes
            raw = _decode(attrs.input, dict)
            if raw and "task" in raw:
                steps[event.event_id] = _step(AgentTask.model_validate(raw["task"]), when)
                entries.append(steps[event.event_id])
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            if (entry := steps.get(attrs.scheduled_event_id)) is not None:
                entry.attempt, entry.status = attrs.attempt, "running"
        elif kind in (
            E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
            E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED,
        ):
            is_activity = kind == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
            attrs = (
                event.activity_task_completed_event_attributes
                if is_activity
                else event.child_workflow_execution_completed_event_attributes
            )
            scheduled = attrs.scheduled_event_id if is_activity else attrs.initiated_event_id
            if (entry := steps.get(scheduled)) is not None:
                result: AgentResult = _decode(attrs.result, AgentResult)
                _finish(entry, "completed", when)
                entry.output = _excerpt(result.output.text)
                entry.output_artifact, entry.usage = result.output.artifact_id, result.usage
                if entry.index is not None:
                    results[entry.index] = result
        elif kind in _STEP_FAILURES:
            attrs = getattr(event, _STEP_FAILURES[kind])
            scheduled = getattr(attrs, "scheduled_event_id", 0) or getattr(
                attrs, "initiated_event_id", 0
            )
            if (entry := steps.get(scheduled)) is not None:
                failed = "cancelled" if "CANCELED" in E.Name(kind) else "failed"
                _finish(entry, failed, when)
                if "failure" in attrs.DESCRIPTOR.fields_by_name and attrs.HasField("failure"):
                    entry.error = _failure(attrs.failure)
        elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attrs = event.workflow_execution_signaled_event_attributes
            payload = _decode(attrs.input, ExternalEvent) if attrs.signal_name == "event" else None
            entries.append(
                TimelineEntry(
                    kind="signal",
                    name=attrs.signal_name,
                    status="received",
                    time=when,
                    input=_excerpt(payload.model_dump_json() if payload else None),
                )
            )
        elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            attrs = event.workflow_execution_update_accepted_event_attributes
            request = attrs.accepted_request
            decision = (
                _decode(request.input.args, Decision) if request.input.name == "decide" else None
            )
            verdict = ("approved" if decision.approve else "rejected") if decision else "accepted"
            entries.append(
                TimelineEntry(
                    kind="update",
                    name=request.input.name,
                    status=verdict,
                    time=when,
                    input=_excerpt(decision.model_dump_json() if decision else None),
                )
            )
        elif kind in CLOSED:
            status = CLOSED[kind]
            entry = TimelineEntry(kind="run", name=workflow_type, status=status, time=when)
            if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
                entry.error = _failure(event.workflow_execution_failed_event_attributes.failure)
            entries.append(entry)
    run_id = run_input.run_id if run_input else ""
    timeline = Timeline(run_id=run_id, workflow_type=workflow_type, status=status, entries=entries)
    return ParsedHistory(timeline=timeline, input=run_input, results=results)


# Event type -> the name of its attributes field (e.g. activity_task_failed_event_attributes).
_STEP_FAILURES = {
    kind: E.Name(kind).removeprefix("EVENT_TYPE_").lower() + "_event_attributes"
    for kind in (
        E.EVENT_TYPE_ACTIVITY_TASK_FAILED,
        E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
        E.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
        E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED,
        E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED,
        E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT,
    )
}


def _step(task: AgentTask, when: datetime) -> TimelineEntry:
    given = task.template if task.template is not None else task.input.text
    return TimelineEntry(
        kind="step",
        name=task.step_name,
        status="scheduled",
        time=when,
        index=task.step_index,
        group=task.group,
        backend=task.agent.backend,
        input=_excerpt(given),
    )


def _finish(entry: TimelineEntry, status: str, when: datetime) -> None:
    entry.status, entry.ended_at = status, when
