"""`/v1/dashboard/config`: what the dashboard needs to know about this deployment: where
the pool's nodes push run events (its live updates) and where the Temporal Web UI is."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import SettingsDep
from api.security import Reader

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"])


class DashboardConfig(BaseModel):
    pool_urls: list[str] = Field(
        description="WebSocket pool nodes (ACC_POOL_URL) that push run events to subscribers"
    )
    temporal_ui: str = Field(description="The Temporal Web UI (ACC_TEMPORAL_UI_URL)")


@router.get("/config", operation_id="dashboard-config")
async def config(_: Reader, settings: SettingsDep) -> DashboardConfig:
    """Where the dashboard subscribes to live run events (it polls the API when no node
    answers), and the Temporal Web UI it links runs to."""
    return DashboardConfig(pool_urls=settings.pool_urls, temporal_ui=settings.temporal_ui_url)
