"""`/v1/runs/{id}/timeline`, `/history` and `/fork`: what happened, and trying again from
any step without re-running the ones before it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from api.deps import BusDep, SettingsDep, TemporalDep
from api.errors import documented
from api.security import Reader, Writer
from api.services import history
from api.services.runs import RunAccepted
from core.history import Timeline

router = APIRouter(prefix="/v1/runs", tags=["history"])


@router.get("/{run_id}/timeline", operation_id="history-timeline", responses=documented(404))
async def get_timeline(caller: Reader, run_id: str, client: TemporalDep) -> Timeline:
    """The run's agent-level timeline from its Temporal history: each step with its index,
    input, attempts, output, usage or error; events and decisions sent to the run."""
    return await history.timeline(client, caller.tenant, run_id)


@router.get("/{run_id}/history", operation_id="history-raw", responses=documented(404))
async def get_history(caller: Reader, run_id: str, client: TemporalDep) -> dict[str, Any]:
    """The raw Temporal history (JSON), as `acc replay` and the Web UI read it."""
    return await history.history_json(client, caller.tenant, run_id)


@router.post(
    "/{run_id}/fork",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="history-fork",
    responses=documented(404, 409),
)
async def fork_run(
    caller: Writer,
    run_id: str,
    request: history.ForkRequest,
    client: TemporalDep,
    settings: SettingsDep,
    bus: BusDep,
) -> RunAccepted:
    """Start a new run of the same spec that reuses the recorded results of the steps
    before `from_step` (their agents do not run again) and continues from `from_step`,
    optionally with an edited input. A step without a recorded result is a 422."""
    return await history.fork(client, settings, bus, caller.tenant, run_id, request)
