"""Every route of the API, one module per resource, aggregated into one router."""

from fastapi import APIRouter

from api.errors import GUARDED
from api.routes import (
    agents,
    alerts,
    analytics,
    artifacts,
    codec,
    dashboard,
    flags,
    health,
    history,
    keys,
    metrics,
    reports,
    reviews,
    runs,
    schema,
)

router = APIRouter()
MODULES = (
    *(health, runs, history, artifacts, schema, agents, metrics, codec, keys, flags),
    *(analytics, alerts, reports, reviews, dashboard),
)
PUBLIC = (health, metrics, schema)  # no credential, no body: nothing of GUARDED applies
for module in MODULES:
    router.include_router(module.router, responses=None if module in PUBLIC else GUARDED)
