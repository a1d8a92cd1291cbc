"""`/v1/runs`: start a run from a spec, read its state, list and cancel runs."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from api import runs
from api.deps import ServicesDep
from core.contracts import RunSpec, RunStatus

router = APIRouter(prefix="/v1/runs", tags=["runs"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, operation_id="runs-start")
async def start_run(spec: RunSpec, services: ServicesDep) -> runs.RunAccepted:
    """Validate a run spec and start it as a Temporal workflow.

    The spec is validated before Temporal is contacted, so bad input is always a 422.

    Returns at once with the run's id and links (API, dashboard, Temporal Web UI). An
    invalid spec is a 422 naming the field; nothing is started.
    """
    return await runs.start_run(await services.temporal(), services.settings, spec)


@router.get("", operation_id="runs-list")
async def list_runs(
    services: ServicesDep,
    status: RunStatus | None = None,
    pattern: Literal["pipeline"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[runs.RunSummary]:
    """List runs, newest first, filtered by status and pattern (Temporal search attributes).

    Temporal's visibility store is eventually consistent: a run started a moment ago may
    take a moment to appear.
    """
    return await runs.list_runs(
        await services.temporal(), services.settings, status, pattern, limit
    )


@router.get("/{run_id}", operation_id="runs-get")
async def get_run(
    run_id: str,
    services: ServicesDep,
    wait: Annotated[float, Query(ge=0, le=60, description="Seconds to wait for the end")] = 0,
) -> runs.RunView:
    """A run's status, steps and output. With `wait`, hold the request until the run ends
    or `wait` seconds pass, whichever comes first."""
    return await runs.get_run(await services.temporal(), services.settings, run_id, wait)


@router.post("/{run_id}/cancel", status_code=status.HTTP_202_ACCEPTED, operation_id="runs-cancel")
async def cancel_run(run_id: str, services: ServicesDep) -> runs.RunAccepted:
    """Ask a running run to cancel: its running step is stopped (the agent's whole process
    group is killed) and the run ends `cancelled`. A run that has ended is a 409."""
    return await runs.cancel_run(await services.temporal(), services.settings, run_id)
