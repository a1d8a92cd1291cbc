"""`purge_expired`: the retention schedule's one activity. Deletes SQL rows older than the
cutoff (analytics/retention.py) and the folders of runs closed before the workspaces'
cutoff (agents/workspaces.py), asking Temporal whether each run is closed."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from agents import workspaces
from analytics import retention
from core.contracts import PURGE_EXPIRED, PurgeInput, PurgeResult
from core.settings import Settings

log = logging.getLogger(__name__)


class RetentionActivities:
    def __init__(self, settings: Settings, engine: AsyncEngine, client: Client) -> None:
        self._settings = settings
        self._engine = engine
        self._client = client

    @activity.defn(name=PURGE_EXPIRED)
    async def purge_expired(self, inp: PurgeInput) -> PurgeResult:
        rows = await retention.purge(self._engine, inp.cutoff)

        async def closed(run_id: str) -> bool:
            return await self._closed_before(run_id, inp.workspaces_cutoff)

        removed = await workspaces.remove_closed(self._settings.data_dir, closed)
        log.info("retention: removed %s rows and %d run folders", rows, len(removed))
        return PurgeResult(rows=rows, workspaces=removed)

    async def _closed_before(self, run_id: str, cutoff: datetime) -> bool:
        """Whether the run closed before `cutoff`; a run Temporal no longer knows (its
        history is past the namespace's retention) counts as closed long ago."""
        try:
            desc = await self._client.get_workflow_handle(run_id).describe()
        except RPCError as exc:
            return exc.status == RPCStatusCode.NOT_FOUND
        if desc.status in (None, WorkflowExecutionStatus.RUNNING):
            return False
        return desc.close_time is not None and desc.close_time < cutoff
