"""Reading a run's history: its agent-level timeline, its raw history, and forks.

A fork starts a new run of the same spec that reuses the recorded results of the steps
before `from_step` (no agent runs again) and continues from there, optionally with an
edited input for step `from_step`. Step indexes are the ones the timeline shows.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from api.services.runs import RunAccepted, describe, run_handle, run_input, start_run
from core.bus import EventBus
from core.errors import Conflict, NotFound
from core.history import ParsedHistory, Timeline, TimelineEntry, decode_history, parse
from core.jsontypes import Integer
from core.settings import Settings


class ForkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    from_step: Integer = Field(ge=0, description="First step to run again; earlier ones are reused")
    input: str | None = Field(None, description="Replacement input for step `from_step`")


# A run that continued as new this many times shows its latest histories only.
MAX_HISTORIES = 200


async def fetch_history(
    client: Client, run_id: str, execution: str | None = None
) -> WorkflowHistory:
    try:
        history = await client.get_workflow_handle(run_id, run_id=execution).fetch_history()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"run {run_id} not found", {"id": run_id}) from exc
        raise
    return await decode_history(history, client.data_converter.payload_codec)


async def timeline(client: Client, tenant: str, run_id: str) -> Timeline:
    """The whole run: every history it continued as new through, oldest first, and the
    jobs of its fan-out batches after each batch, read from their own histories."""
    await describe(run_handle(client, run_id), tenant)
    chain = [parse(await fetch_history(client, run_id))]
    while (previous := chain[-1].continued_from) is not None and len(chain) < MAX_HISTORIES:
        chain.append(parse(await fetch_history(client, run_id, previous)))
    latest = chain[0].timeline
    entries: list[TimelineEntry] = []
    for parsed in reversed(chain):
        batch_at = {index: child for child, index in parsed.batches.items()}
        for entry in parsed.timeline.entries:
            entries.append(entry)
            if entry.kind == "step" and entry.index in batch_at:
                jobs = parse(await fetch_history(client, batch_at[entry.index])).timeline
                entries += [e for e in jobs.entries if e.kind == "step"]
    return latest.model_copy(update={"entries": entries, "run_id": run_id})


async def history_json(client: Client, tenant: str, run_id: str) -> dict[str, Any]:
    await describe(run_handle(client, run_id), tenant)
    history = await fetch_history(client, run_id)
    return {"workflow_id": history.workflow_id, "history": history.to_json_dict()}


def fork_input_from(parsed: ParsedHistory, run_id: str, request: ForkRequest) -> dict[str, Any]:
    """The fork's reuse plan, or a 422 saying which step cannot be reused."""
    parent = parsed.input
    if parent is None:
        raise Conflict(f"run {run_id} is not a run acc started", {"id": run_id})
    if parent.spec.pattern == "event-driven":
        raise Conflict(
            "event-driven runs cannot be forked: their steps come from events, not the spec",
            {"field": "from_step"},
        )
    indexes = [e.index for e in parsed.timeline.entries if e.kind == "step" and e.index is not None]
    if not indexes:
        raise Conflict(f"run {run_id} has no steps to fork from", {"field": "from_step"})
    if request.from_step > max(indexes):
        raise Conflict(
            f"from_step: run {run_id} has steps 0 to {max(indexes)}; a fork reruns from one "
            f"of them, so from_step must be at most {max(indexes)}",
            {"field": "from_step", "max": max(indexes)},
        )
    # The first step without a recorded result is the furthest a fork can start from.
    first_missing = next((i for i in range(request.from_step) if i not in parsed.results), None)
    if first_missing is not None:
        raise Conflict(
            f"from_step: step {first_missing} of run {run_id} has no recorded result (it "
            f"failed, was cancelled or never ran); fork from step {first_missing} or earlier",
            {"field": "from_step", "max": first_missing},
        )
    return {
        "recorded": {i: r for i, r in parsed.results.items() if i < request.from_step},
        "edited_inputs": {request.from_step: request.input} if request.input is not None else {},
        "parent_run_id": run_id,
    }


async def fork(
    client: Client,
    settings: Settings,
    bus: EventBus,
    tenant: str,
    run_id: str,
    request: ForkRequest,
) -> RunAccepted:
    await describe(run_handle(client, run_id), tenant)
    parsed = parse(await fetch_history(client, run_id))
    plan = fork_input_from(parsed, run_id, request)
    assert parsed.input is not None
    inp = run_input(settings, parsed.input.spec, tenant, **plan)
    return await start_run(client, settings, bus, inp)
