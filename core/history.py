"""Temporal history -> an agent-level timeline, and the recorded results a fork reuses.

Temporal's history is the source of truth for what happened in a run. This module reads
it (no workflow code runs): each `run_agent` activity and each agent child workflow is a
step with its index, input, attempts, result or error; signals and updates (events sent
to the run, approvals) and the run's start and end are entries too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from core.contracts import (
    RUN_AGENT,
    WORKFLOW_OF_PATTERN,
    AgentResult,
    AgentTask,
    BatchResult,
    Decision,
    ExternalEvent,
    RunInput,
    Usage,
)

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
    batches: dict[str, int] = {}  # fan-out batch child workflow id -> its timeline entry
    continued_from: str | None = None  # the run id of the history before (continue-as-new)


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


class _Reader:
    """Reads one history, event by event: a handler per event type (`HANDLERS`)."""

    def __init__(self) -> None:
        self.entries: list[TimelineEntry] = []
        self.steps: dict[int, TimelineEntry] = {}  # scheduling event id -> entry
        self.results: dict[int, AgentResult] = {}
        self.run_input: RunInput | None = None
        self.workflow_type, self.status = "", "running"
        self.batches: dict[int, str] = {}  # initiating event id -> batch child workflow id
        self.continued_from: str | None = None

    def started(self, event: HistoryEvent, when: datetime) -> None:
        attrs = event.workflow_execution_started_event_attributes
        self.workflow_type = attrs.workflow_type.name
        if self.workflow_type in WORKFLOW_OF_PATTERN.values():
            self.run_input = _decode(attrs.input, RunInput)
        self.continued_from = attrs.continued_execution_run_id or None
        self.entries.append(
            TimelineEntry(kind="run", name=self.workflow_type, status="started", time=when)
        )

    def activity_scheduled(self, event: HistoryEvent, when: datetime) -> None:
        attrs = event.activity_task_scheduled_event_attributes
        if attrs.activity_type.name == RUN_AGENT:
            self._add_step(event.event_id, _decode(attrs.input, AgentTask), when)

    def child_initiated(self, event: HistoryEvent, when: datetime) -> None:
        attrs = event.start_child_workflow_execution_initiated_event_attributes
        raw = _decode(attrs.input, dict)
        if raw and "task" in raw:
            self._add_step(event.event_id, AgentTask.model_validate(raw["task"]), when)
        elif raw and "jobs" in raw:  # a batch of a large fan-out: its jobs are in its history
            name = attrs.workflow_id.rsplit(".", 1)[-1]
            entry = TimelineEntry(
                kind="step",
                name=name,
                status="scheduled",
                time=when,
                index=int(raw["first_index"]) - 1,
                group=name,
                backend="batch",
            )
            self.steps[event.event_id] = entry
            self.batches[event.event_id] = attrs.workflow_id
            self.entries.append(entry)

    def activity_started(self, event: HistoryEvent, when: datetime) -> None:
        attrs = event.activity_task_started_event_attributes
        if (entry := self.steps.get(attrs.scheduled_event_id)) is not None:
            entry.attempt, entry.status = attrs.attempt, "running"

    def activity_completed(self, event: HistoryEvent, when: datetime) -> None:
        attrs = event.activity_task_completed_event_attributes
        self._complete(attrs.scheduled_event_id, attrs.result, when)

    def child_completed(self, event: HistoryEvent, when: datetime) -> None:
        attrs = event.child_workflow_execution_completed_event_attributes
        self._complete(attrs.initiated_event_id, attrs.result, when)

    def step_ended(self, event: HistoryEvent, when: datetime) -> None:
        """A step failed, timed out or was cancelled (activity or child)."""
        attrs = getattr(event, _STEP_FAILURES[event.event_type])
        scheduled = getattr(attrs, "scheduled_event_id", 0) or getattr(
            attrs, "initiated_event_id", 0
        )
        if (entry := self.steps.get(scheduled)) is None:
            return
        cancelled = "CANCELED" in E.Name(event.event_type)
        entry.status, entry.ended_at = ("cancelled" if cancelled else "failed"), when
        if "failure" in attrs.DESCRIPTOR.fields_by_name and attrs.HasField("failure"):
            entry.error = _failure(attrs.failure)

    def signaled(self, event: HistoryEvent, when: datetime) -> None:
        attrs = event.workflow_execution_signaled_event_attributes
        payload = _decode(attrs.input, ExternalEvent) if attrs.signal_name == "event" else None
        shown = _excerpt(payload.model_dump_json() if payload else None)
        self.entries.append(
            TimelineEntry(
                kind="signal", name=attrs.signal_name, status="received", time=when, input=shown
            )
        )

    def update_accepted(self, event: HistoryEvent, when: datetime) -> None:
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        decision = _decode(request.input.args, Decision) if request.input.name == "decide" else None
        verdict = ("approved" if decision.approve else "rejected") if decision else "accepted"
        shown = _excerpt(decision.model_dump_json() if decision else None)
        self.entries.append(
            TimelineEntry(
                kind="update", name=request.input.name, status=verdict, time=when, input=shown
            )
        )

    def closed(self, event: HistoryEvent, when: datetime) -> None:
        self.status = CLOSED[event.event_type]
        entry = TimelineEntry(kind="run", name=self.workflow_type, status=self.status, time=when)
        if event.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            entry.error = _failure(event.workflow_execution_failed_event_attributes.failure)
        self.entries.append(entry)

    def _add_step(self, event_id: int, task: AgentTask, when: datetime) -> None:
        self.steps[event_id] = _step(task, when)
        self.entries.append(self.steps[event_id])

    def _complete(self, scheduled: int, payloads: Payloads, when: datetime) -> None:
        if (entry := self.steps.get(scheduled)) is None:
            return
        if scheduled in self.batches:
            batch: BatchResult = _decode(payloads, BatchResult)
            entry.status, entry.ended_at = "completed", when
            entry.output = f"{batch.succeeded} jobs succeeded, {batch.failed} failed"
            entry.output_artifact, entry.usage = batch.results, batch.usage
            return
        result: AgentResult = _decode(payloads, AgentResult)
        entry.status, entry.ended_at = "completed", when
        entry.output = _excerpt(result.output.text)
        entry.output_artifact, entry.usage = result.output.artifact_id, result.usage
        if entry.index is not None:
            self.results[entry.index] = result


Handler = Callable[[_Reader, HistoryEvent, datetime], None]
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
HANDLERS: dict[int, Handler] = {
    E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: _Reader.started,
    E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: _Reader.activity_scheduled,
    E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: _Reader.child_initiated,
    E.EVENT_TYPE_ACTIVITY_TASK_STARTED: _Reader.activity_started,
    E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: _Reader.activity_completed,
    E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: _Reader.child_completed,
    E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: _Reader.signaled,
    E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: _Reader.update_accepted,
    **dict.fromkeys(_STEP_FAILURES, _Reader.step_ended),
    **dict.fromkeys(CLOSED, _Reader.closed),
}


def parse(history: WorkflowHistory) -> ParsedHistory:
    """The run's timeline, its input and the recorded step results, from its history."""
    reader = _Reader()
    for event in history.events:
        if (handler := HANDLERS.get(event.event_type)) is not None:
            handler(reader, event, _time(event.event_time))
    run_id = reader.run_input.run_id if reader.run_input else ""
    timeline = Timeline(
        run_id=run_id,
        workflow_type=reader.workflow_type,
        status=reader.status,
        entries=reader.entries,
    )
    return ParsedHistory(
        timeline=timeline,
        input=reader.run_input,
        results=reader.results,
        batches={wf: reader.steps[e].index or 0 for e, wf in reader.batches.items()},
        continued_from=reader.continued_from,
    )


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
