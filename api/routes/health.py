"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import BusDep, EngineDep, RedisDep, SettingsDep, TemporalDep
from core import db

router = APIRouter(tags=["health"])
CHECK_TIMEOUT_SECONDS = 3.0


@router.get("/healthz", operation_id="health-live")
async def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="health-ready",
    responses={503: {"description": "Temporal or the database is unreachable"}},
)
async def ready(
    client: TemporalDep, engine: EngineDep, redis: RedisDep, bus: BusDep, settings: SettingsDep
) -> JSONResponse:
    """Whether the API can serve. Temporal and the database are required: either down is
    a 503 naming it. Redis and the broker are not: without them the API still starts and
    reads runs, so the answer is 200 with `status: degraded` and what is missing (events
    are not published; breakers and routing state cannot be read)."""
    required = {
        "temporal": _check(client.service_client.check_health(), settings.temporal_address),
        "database": _check(db.ping(engine), engine.url.render_as_string(hide_password=True)),
    }
    optional = {
        "redis": _check(redis.ping(), settings.redis_url),
        "broker": _check(bus.ping(), settings.kafka_bootstrap),
    }
    names = [*required, *optional]
    results = await asyncio.gather(*required.values(), *optional.values())
    checks = dict(zip(names, results, strict=True))
    down = [name for name in required if checks[name] != "ok"]
    degraded = [name for name in optional if checks[name] != "ok"]
    status = "down" if down else "degraded" if degraded else "ok"
    body = {"status": status, "checks": checks, "down": down, "degraded": degraded}
    return JSONResponse(body, status_code=503 if down else 200)


async def _check(probe: Awaitable[object], where: str) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)
    except Exception as exc:
        return f"unreachable at {where}: {str(exc) or type(exc).__name__}"
    return "ok"
