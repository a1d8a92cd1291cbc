"""Runs as the API sees them: start, read, list and cancel Temporal workflows.

A run's id is its workflow id. Its live state comes from the workflow's `state` query,
its final state from the workflow result, and its status from Temporal itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.services.stuck import stuck_reason
from core import temporal
from core.bus import EventBus
from core.contracts import (
    WORKFLOW_OF_PATTERN,
    RunInput,
    RunState,
    RunStatus,
    StepState,
    Usage,
    Waiting,
)
from core.errors import Conflict, NotFound, TooManyRequests
from core.events import Event
from core.history import decode_history, parse
from core.settings import Settings
from core.specs import PATTERNS, RunSpec, step_specs

STATUS_OF: dict[WorkflowExecutionStatus, RunStatus] = {
    WorkflowExecutionStatus.RUNNING: "running",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "running",
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
}
ListStatus = Literal[
    "running", "waiting", "completed", "failed", "cancelled", "terminated", "timed_out"
]
# Temporal's visibility filters for each status; a waiting run is a running execution whose
# AccStatus search attribute says "waiting".
VISIBILITY_STATUS: dict[ListStatus, str] = {
    "running": "ExecutionStatus = 'Running' AND (AccStatus IS NULL OR AccStatus != 'waiting')",
    "waiting": "ExecutionStatus = 'Running' AND AccStatus = 'waiting'",
    "completed": "ExecutionStatus = 'Completed'",
    "failed": "ExecutionStatus = 'Failed'",
    "cancelled": "ExecutionStatus = 'Canceled'",
    "terminated": "ExecutionStatus = 'Terminated'",
    "timed_out": "ExecutionStatus = 'TimedOut'",
}
QUERY_TIMEOUT = timedelta(seconds=5)
TENANT_LIMIT_RETRY_SECONDS = 5.0  # a run at the limit is told to come back after this


class RunLinks(BaseModel):
    self: str
    timeline: str
    temporal_ui: str
    dashboard: str


class RunSummary(BaseModel):
    id: str
    name: str | None
    pattern: str | None
    tenant: str | None
    status: RunStatus
    started_at: datetime | None
    closed_at: datetime | None
    links: RunLinks


class RunView(RunSummary):
    waiting: Waiting | None = None
    current_step: int | None = None
    steps: list[StepState] = []
    pending: list[str] = []
    usage: Usage = Usage()
    quality: float | None = None
    notes: list[str] = []
    output: str | None = None
    output_artifact: str | None = None
    error: str | None = None
    parent_run_id: str | None = None
    events_handled: int = 0

    def fill(self, state: RunState) -> RunView:
        """Add what only the workflow knows: steps, usage, output, what it waits for."""
        if state.waiting is not None and self.status == "running":
            self.status = "waiting"
        for name in (
            "waiting",
            "current_step",
            "steps",
            "pending",
            "usage",
            "quality",
            "notes",
            "error",
            "parent_run_id",
            "events_handled",
        ):
            setattr(self, name, getattr(state, name))
        if state.output is not None:
            self.output, self.output_artifact = state.output.text, state.output.artifact_id
        return self


class RunAccepted(BaseModel):
    id: str
    status: RunStatus
    links: RunLinks


def links(settings: Settings, run_id: str) -> RunLinks:
    api = settings.api_url
    ui = settings.temporal_ui_url.rstrip("/")
    return RunLinks(
        self=f"{api}/v1/runs/{run_id}",
        timeline=f"{ui}/namespaces/{settings.TEMPORAL_NAMESPACE}/workflows/{run_id}/history",
        temporal_ui=f"{ui}/namespaces/{settings.TEMPORAL_NAMESPACE}/workflows/{run_id}",
        dashboard=f"{api}/runs/{run_id}",
    )


def new_run_id(spec: RunSpec, tenant: str, idempotency_key: str | None = None) -> str:
    """`<name>-<12 hex>`: random, or derived from the caller's idempotency key, so a request
    sent again (after a dropped connection) names the run the first one started."""
    if idempotency_key is None:
        return f"{spec.name}-{uuid.uuid4().hex[:12]}"
    digest = hashlib.sha256(f"{tenant}\0{idempotency_key}".encode()).hexdigest()
    return f"{spec.name}-{digest[:12]}"


def run_input(
    settings: Settings,
    spec: RunSpec,
    tenant: str,
    idempotency_key: str | None = None,
    **fork: Any,
) -> RunInput:
    return RunInput(
        run_id=new_run_id(spec, tenant, idempotency_key),
        tenant=tenant,
        spec=spec,
        agents_queue=settings.agents_queue,
        fan_out_batch=settings.FAN_OUT_BATCH,
        history_events=settings.HISTORY_EVENTS,
        **fork,
    )


async def start_run(
    client: Client, settings: Settings, bus: EventBus, inp: RunInput, idempotent: bool = False
) -> RunAccepted:
    """Start the pattern's workflow (workflow id = run id) and announce `run.started`."""
    run_id, spec, tenant = inp.run_id, inp.spec, inp.tenant
    await _within_tenant_limit(client, settings, inp, idempotent)
    try:
        await client.start_workflow(
            WORKFLOW_OF_PATTERN[spec.pattern],
            inp,
            id=run_id,
            task_queue=settings.ORCHESTRATION_QUEUE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(temporal.PATTERN, spec.pattern),
                    SearchAttributePair(temporal.TENANT, tenant),
                    SearchAttributePair(temporal.RUN_NAME, spec.name),
                ]
            ),
            static_summary=f"{spec.name} · {spec.pattern}",
            static_details=details(inp),
            # An idempotent start never starts the same id twice, even after it ended.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE
            if idempotent
            else WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
    except WorkflowAlreadyStartedError as exc:
        if idempotent:
            return await _same_request(client, settings, inp)
        raise Conflict(f"run {run_id} already exists") from exc
    data = {"pattern": spec.pattern, "name": spec.name, "parent_run_id": inp.parent_run_id}
    await bus.publish(
        Event(
            type="run.started",
            source="api",
            run_id=run_id,
            tenant=tenant,
            data={k: v for k, v in data.items() if v is not None},
        )
    )
    return RunAccepted(id=run_id, status="running", links=links(settings, run_id))


async def _within_tenant_limit(
    client: Client, settings: Settings, inp: RunInput, idempotent: bool
) -> None:
    """A 429 when the tenant already has ACC_TENANT_MAX_RUNNING runs running. Counted in
    Temporal's visibility store, which trails starts by up to a second: a burst can pass
    the limit by the runs started meanwhile."""
    query = f"{tenant_runs(inp.tenant)} AND ExecutionStatus = 'Running'"
    running = (await client.count_workflows(query)).count
    if running < settings.TENANT_MAX_RUNNING:
        return
    if idempotent:  # the same request again: its run is not a new one
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(inp.run_id).describe()
            return
    raise TooManyRequests(
        f"tenant {inp.tenant!r} has {running} runs running, its limit "
        f"(ACC_TENANT_MAX_RUNNING={settings.TENANT_MAX_RUNNING}); start more once some end",
        TENANT_LIMIT_RETRY_SECONDS,
        {"running": running, "limit": settings.TENANT_MAX_RUNNING},
    )


def tenant_runs(tenant: str, patterns: Iterable[str] = PATTERNS) -> str:
    """The visibility query of a tenant's runs (its steps' child workflows carry none)."""
    listed = ", ".join(f"'{p}'" for p in patterns)
    return f"AccTenant = '{quoted(tenant)}' AND AccPattern IN ({listed})"


async def _same_request(client: Client, settings: Settings, inp: RunInput) -> RunAccepted:
    """The run an earlier request with the same idempotency key started, or a 409 when
    that key came with another spec."""
    history = await client.get_workflow_handle(inp.run_id).fetch_history()
    await decode_history(history, client.data_converter.payload_codec)
    first = parse(history).input
    if first is None or first.spec != inp.spec:
        raise Conflict(
            "this Idempotency-Key was used for another spec; use a new key for a new run",
            {"id": inp.run_id},
        )
    status = run_status(await describe(run_handle(client, inp.run_id), inp.tenant))
    return RunAccepted(id=inp.run_id, status=status, links=links(settings, inp.run_id))


def details(inp: RunInput) -> str:
    """What the Temporal Web UI shows of the run before any step: its spec in short."""
    spec = inp.spec
    lines = [f"**{spec.name}** · {spec.pattern} · tenant {inp.tenant}"]
    if spec.description:
        lines.append(spec.description)
    steps = [f"`{step.name}` ({step.agent.backend})" for step in step_specs(spec)]
    lines.append("Steps: " + ", ".join(steps))
    if inp.parent_run_id:
        lines.append(f"Fork of `{inp.parent_run_id}`, reusing {len(inp.recorded)} step(s)")
    return "\n\n".join(lines)


def run_handle(client: Client, run_id: str) -> WorkflowHandle[Any, RunState]:
    return client.get_workflow_handle(run_id, result_type=RunState)


async def describe(
    handle: WorkflowHandle[Any, RunState], tenant: str | None = None
) -> WorkflowExecutionDescription:
    """The run's description; a 404 when it does not exist or is another tenant's (the
    same answer, so nobody learns another tenant's runs exist)."""
    try:
        desc = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"run {handle.id} not found", {"id": handle.id}) from exc
        raise
    if tenant is not None and desc.typed_search_attributes.get(temporal.TENANT) != tenant:
        raise NotFound(f"run {handle.id} not found", {"id": handle.id})
    return desc


async def _state(handle: WorkflowHandle[Any, RunState], status: RunStatus) -> RunState | None:
    """The run's state: its result when completed, else the `state` query (needs a worker)."""
    if status == "completed":
        return await handle.result()
    try:
        state: RunState = await handle.query(
            "state", result_type=RunState, rpc_timeout=QUERY_TIMEOUT
        )
    except Exception:
        # No worker to answer, or the run failed before its first step: status only.
        return None
    return state


async def get_run(
    client: Client, settings: Settings, tenant: str, run_id: str, wait: float = 0
) -> RunView:
    handle = run_handle(client, run_id)
    result: RunState | None = None
    if wait > 0:
        # The tenant is checked while the result is awaited: no round trip added.
        ending = asyncio.ensure_future(asyncio.wait_for(handle.result(), wait))
        try:
            await describe(handle, tenant)
        except BaseException:
            ending.cancel()
            raise
        # Failed, cancelled, unknown or unreachable runs are all read (or reported) below.
        with contextlib.suppress(TimeoutError, WorkflowFailureError, RPCError):
            result = await ending
    if result is not None:
        # The result carries everything the view needs: no second round trip.
        view = RunView(
            id=run_id,
            name=result.name,
            pattern=result.pattern,
            tenant=result.tenant,
            status="completed",
            started_at=result.started_at,
            closed_at=result.ended_at,
            links=links(settings, run_id),
        )
        return view.fill(result)
    desc = await describe(handle, tenant)
    view = RunView(**summary(settings, desc).model_dump())
    if view.status == "running" and (stuck := await stuck_reason(client, desc)) is not None:
        view.status, view.error = "stuck", stuck
        return view
    state = await _state(handle, run_status(desc))
    return view.fill(state) if state is not None else view


def quoted(value: str) -> str:
    """A value inside single quotes of a visibility query."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def run_status(execution: WorkflowExecution) -> RunStatus:
    status = STATUS_OF.get(execution.status, "running") if execution.status else "running"
    waiting = execution.typed_search_attributes.get(temporal.STATUS) == "waiting"
    return "waiting" if status == "running" and waiting else status


def summary(settings: Settings, execution: WorkflowExecution) -> RunSummary:
    attrs = execution.typed_search_attributes
    return RunSummary(
        id=execution.id,
        name=attrs.get(temporal.RUN_NAME),
        pattern=attrs.get(temporal.PATTERN),
        tenant=attrs.get(temporal.TENANT),
        status=run_status(execution),
        started_at=execution.start_time,
        closed_at=execution.close_time,
        links=links(settings, execution.id),
    )
