"""Every route of the API, one module per resource, aggregated into one router."""

from fastapi import APIRouter

from api.routes import (
    agents,
    artifacts,
    codec,
    dashboard,
    flags,
    health,
    history,
    keys,
    metrics,
    runs,
    schema,
)

router = APIRouter()
for module in (
    *(health, runs, history, artifacts, schema, agents, metrics, codec, keys, flags),
    dashboard,
):
    router.include_router(module.router)
