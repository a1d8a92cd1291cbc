"""`/metrics`: Prometheus text format, read at scrape time from the state every worker
shares (circuit breakers in Redis) and from this process (event bus)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from redis.exceptions import RedisError

from api.deps import BusDep, FlagsDep, RouterDep
from core.flags import Flags

router = APIRouter(tags=["metrics"])
BREAKER_STATES = ("closed", "half_open", "open")


@router.get("/metrics", operation_id="metrics-prometheus", response_class=Response)
async def metrics(request: Request, live: RouterDep, bus: BusDep, flags: FlagsDep) -> Response:
    """Feature flags (`acc_feature_flag_rollout`, `acc_feature_flag_evaluations`), circuit
    breakers (`acc_breaker_state`, one series per state with value 1 for the
    current one; `acc_breaker_failures`), Redis reachability and this API's event bus
    counters and the event outbox shared by the processes of this data dir
    (`acc_outbox_backlog`: events waiting for the broker; `acc_outbox_dropped_total`:
    events dropped at the outbox's bound), and this API's requests by method, route and
    status (`acc_api_requests_total`, `acc_api_request_duration_seconds`), for Prometheus
    to scrape."""
    registry = CollectorRegistry()
    state = Gauge(
        "acc_breaker_state",
        "Circuit breaker state (1 = current)",
        ["key", "state"],
        registry=registry,
    )
    failures = Gauge(
        "acc_breaker_failures",
        "Failures counted in the breaker's window",
        ["key"],
        registry=registry,
    )
    redis_up = Gauge("acc_redis_up", "Redis answered this scrape", registry=registry)
    try:
        statuses = await live.breakers.states()
        redis_up.set(1)
    except RedisError:
        statuses = []
        redis_up.set(0)
    for status in statuses:
        for name in BREAKER_STATES:
            state.labels(status.key, name).set(1 if status.state == name else 0)
        failures.labels(status.key).set(status.failures)
    events = Gauge(
        "acc_api_events_total",
        "Events this API published, by outcome",
        ["outcome"],
        registry=registry,
    )
    events.labels("published").set(bus.published)
    events.labels("failed").set(bus.failed)
    events.labels("resent").set(bus.resent)
    events.labels("dropped").set(bus.dropped)
    backlog = Gauge("acc_outbox_backlog", "Events waiting in the outbox", registry=registry)
    dropped = Gauge(
        "acc_outbox_dropped_total", "Events the outbox dropped at its bound", registry=registry
    )
    backlog.set(await asyncio.to_thread(bus.backlog))
    dropped.set(await asyncio.to_thread(bus.outbox_dropped))
    _flag_metrics(registry, flags)
    answered = generate_latest(request.app.state.request_metrics.registry)
    return Response(generate_latest(registry) + answered, media_type=CONTENT_TYPE_LATEST)


def _flag_metrics(registry: CollectorRegistry, flags: Flags) -> None:
    """Feature flags: each one's rollout (share of tenants it is on for), whether the flags
    file's latest version is in force, and this API's evaluations by flag and value."""
    rollout = Gauge(
        "acc_feature_flag_rollout",
        "Share of tenants a feature flag is on for (0..1)",
        ["flag"],
        registry=registry,
    )
    for name in flags.names():
        share = flags.provider.rollout(name)
        if share is not None:
            rollout.labels(name).set(share)
    Gauge(
        "acc_feature_flags_file_ok",
        "The flags file's latest version is loaded (0: the last good one stays)",
        registry=registry,
    ).set(0 if flags.provider.error else 1)
    evaluations = Gauge(
        "acc_feature_flag_evaluations",
        "Flag evaluations by this process since it started, by flag and value",
        ["flag", "value"],
        registry=registry,
    )
    for (name, value), count in flags.counter.counts.items():
        evaluations.labels(name, value).set(count)
