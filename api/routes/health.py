"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ServicesDep
from core import db
from core.errors import AccError

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="health-live")
async def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", operation_id="health-ready")
async def ready(services: ServicesDep) -> JSONResponse:
    """Temporal and the database answer; 503 with the failing part otherwise."""
    checks: dict[str, str] = {}
    try:
        client = await services.temporal()
        await client.service_client.check_health()
        checks["temporal"] = "ok"
    except (AccError, RuntimeError, Exception) as exc:
        checks["temporal"] = f"unreachable at {services.settings.temporal_address}: {exc}"
    try:
        await db.ping(services.engine)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {exc}"
    healthy = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", "checks": checks},
        status_code=200 if healthy else 503,
    )
