"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import EngineDep, SettingsDep, TemporalDep
from core import db

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="health-live")
async def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", operation_id="health-ready")
async def ready(client: TemporalDep, settings: SettingsDep, engine: EngineDep) -> JSONResponse:
    """Temporal and the database answer; 503 with the failing part otherwise."""
    checks: dict[str, str] = {}
    try:
        await client.service_client.check_health()
        checks["temporal"] = "ok"
    except Exception as exc:
        checks["temporal"] = f"unreachable at {settings.temporal_address}: {exc}"
    try:
        await db.ping(engine)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {exc}"
    healthy = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", "checks": checks},
        status_code=200 if healthy else 503,
    )
