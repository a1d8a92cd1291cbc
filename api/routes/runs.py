"""`/v1/runs`: start a run from a spec, read its state, list, cancel, approve or reject it,
and send events to event-driven runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel

from api.deps import BusDep, CancellationsDep, PagesDep, SettingsDep, TemporalDep
from api.errors import documented
from api.security import Approver, Reader, Writer
from api.services import control, run_list, runs
from core.auth import Principal
from core.contracts import Decision, ExternalEvent
from core.jsontypes import Iso8601
from core.specs import Pattern, RunSpec

router = APIRouter(prefix="/v1/runs", tags=["runs"])


class SpecBody(RootModel[RunSpec]):
    """A run spec; `pattern` defaults to pipeline."""


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="runs-start",
    responses={
        200: {"model": runs.RunView, "description": "With `wait`: the run ended"},
        **documented(409),
    },
)
async def start_run(
    caller: Writer,
    spec: SpecBody,
    client: TemporalDep,
    settings: SettingsDep,
    bus: BusDep,
    response: Response,
    wait: Annotated[float, Query(ge=0, le=60, description="Seconds to wait for the end")] = 0,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=200,
            description="Send the same key again (after a dropped connection) to get the run "
            "the first request started instead of a second run",
        ),
    ] = None,
) -> runs.RunAccepted | runs.RunView:
    """Validate a run spec and start it as a Temporal workflow.

    The spec is validated before Temporal is contacted, so bad input is always a 422 naming
    the field, and nothing is started. Returns at once (202) with the run's id and links
    (API, dashboard, Temporal Web UI). With `wait`, holds the request until the run ends
    (200 with the whole run, as `GET /v1/runs/{id}` gives it) or `wait` seconds pass (202).
    A spec without `pattern` is a pipeline.
    """
    inp = runs.run_input(settings, spec.root, caller.tenant, idempotency_key)
    accepted = await runs.start_run(client, settings, bus, inp, idempotency_key is not None)
    if wait > 0:
        view = await runs.get_run(client, settings, caller.tenant, accepted.id, wait)
        if view.status not in ("running", "waiting"):
            response.status_code = status.HTTP_200_OK
            return view
    return accepted


NEXT_CURSOR = "X-Acc-Next-Cursor"


@router.get(
    "",
    operation_id="runs-list",
    response_model=list[runs.RunSummary],
    responses={
        200: {
            "description": "The page's runs, newest first",
            "headers": {
                NEXT_CURSOR: {
                    "description": "Pass as `cursor` for the next page; absent on the last",
                    "schema": {"type": "string"},
                },
                "X-Acc-List-Source": {
                    "description": "Where the list came from: `projection` or `temporal`",
                    "schema": {"type": "string", "enum": ["projection", "temporal"]},
                },
            },
        }
    },
)
async def list_runs(
    caller: Reader,
    pages: PagesDep,
    status: runs.ListStatus | None = None,
    pattern: Pattern | None = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="A piece of the run's id or name"),
    ] = None,
    since: Annotated[
        AwareDatetime | None,
        Iso8601,
        Query(description="Started at or after (ISO 8601 with zone)"),
    ] = None,
    until: Annotated[
        AwareDatetime | None, Iso8601, Query(description="Started before (ISO 8601 with zone)")
    ] = None,
    cursor: Annotated[
        str | None,
        Query(max_length=2000, description=f"The `{NEXT_CURSOR}` of the page before"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """List the runs of the credential's tenant, newest first, a page at a time, filtered
    by status, pattern, a piece of the id or name (`q`, any case) and start time
    (`since` <= started < `until`).

    Pages are keyset pages: the `X-Acc-Next-Cursor` header of one, sent back as `cursor`,
    gives the next, which continues after the last run listed, so pages neither skip nor
    repeat a run however many start meanwhile; no header, no more runs. A cursor that is
    not one the API gave is a 422; `since` at or after `until` lists nothing.

    Answered from the runs projection (a SQL table the aggregator keeps from the run
    events) while an aggregator has reported within ACC_PROJECTION_STALE_SECONDS, else
    from Temporal visibility; `terminated` and `timed_out`, which no event announces,
    always come from Temporal. The `X-Acc-List-Source` header says which (`projection` or
    `temporal`). From Temporal, `q` keeps the matches among ten times `limit` runs read,
    and a page resumes at the next start time. Both are eventually consistent: a run
    started a moment ago may take a moment to appear (each API process also keeps a page
    for ACC_RUNS_LIST_CACHE_SECONDS, 1 by default). A single run (`GET /v1/runs/{id}`)
    always comes from Temporal.
    """
    query = run_list.RunQuery(
        tenant=caller.tenant,
        status=status,
        pattern=pattern,
        q=q,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    page = await pages(query)
    headers = {"X-Acc-List-Source": page.source}
    if page.next_cursor is not None:
        headers[NEXT_CURSOR] = page.next_cursor
    return Response(page.body, media_type="application/json", headers=headers)


@router.get("/{run_id}", operation_id="runs-get", responses=documented(404))
async def get_run(
    caller: Reader,
    run_id: str,
    client: TemporalDep,
    settings: SettingsDep,
    wait: Annotated[float, Query(ge=0, le=60, description="Seconds to wait for the end")] = 0,
) -> runs.RunView:
    """A run's status, steps, usage, quality and output; `waiting` says what it waits for.
    With `wait`, hold the request until the run ends or `wait` seconds pass."""
    return await runs.get_run(client, settings, caller.tenant, run_id, wait)


@router.post(
    "/{run_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="runs-cancel",
    responses=documented(404, 409),
)
async def cancel_run(
    caller: Writer,
    run_id: str,
    client: TemporalDep,
    settings: SettingsDep,
    cancellations: CancellationsDep,
) -> runs.RunAccepted:
    """Cancel a run: its running step is stopped (the agent's whole process group is
    killed), a saga compensates, and the run ends `cancelled`. It always ends: a run still
    going after ACC_CANCEL_GRACE_SECONDS, a stuck run, or one cancelled a second time is
    terminated, the reason recorded in its history. A run that has ended is a 409."""
    return await control.cancel_run(client, settings, cancellations, caller.tenant, run_id)


class Comment(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    comment: str = Field("", max_length=2000, description="Why: kept in the run's history")


def _decision(approve: bool, caller: Principal, body: Comment | None) -> Decision:
    """Who decides is the credential's subject, never a field of the request."""
    comment = body.comment if body else ""
    return Decision(
        approve=approve, comment=comment, by=caller.subject, groups=sorted(caller.groups)
    )


@router.post("/{run_id}/approve", operation_id="runs-approve", responses=documented(404, 409))
async def approve_run(
    caller: Approver,
    run_id: str,
    client: TemporalDep,
    settings: SettingsDep,
    body: Annotated[Comment | None, Body()] = None,
) -> runs.RunView:
    """Approve what the run waits for (a step's approval, or going past its budget), as the
    credential's subject, with a comment kept in the run's history. A step whose approval
    names a group needs a credential in that group. A run that is not waiting is a 409."""
    decision = _decision(True, caller, body)
    return await control.decide(client, settings, caller.tenant, run_id, decision)


@router.post("/{run_id}/reject", operation_id="runs-reject", responses=documented(404, 409))
async def reject_run(
    caller: Approver,
    run_id: str,
    client: TemporalDep,
    settings: SettingsDep,
    body: Annotated[Comment | None, Body()] = None,
) -> runs.RunView:
    """Reject what the run waits for: the run fails with the rejection as its error."""
    decision = _decision(False, caller, body)
    return await control.decide(client, settings, caller.tenant, run_id, decision)


@router.post(
    "/{run_id}/events",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="runs-event",
    responses=documented(404, 409),
)
async def send_event(
    caller: Writer, run_id: str, event: ExternalEvent, client: TemporalDep
) -> dict[str, str]:
    """Send an event to an event-driven run. Events are deduplicated by `id`."""
    await control.send_event(client, caller.tenant, run_id, event)
    return {"id": event.id, "status": "accepted"}
