"""The API's own request series for `/metrics`: requests by method, route template and
status, and their durations. Pure ASGI middleware: the body streams through untouched.

Routes are labelled by their template (`/v1/runs/{run_id}`), never by the raw path, so a
scan of random URLs cannot grow the series without bound: what no API route matched is
`other` (the dashboard's files, 404s).
"""

from __future__ import annotations

import time

from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class RequestMetrics:
    """The series, in a registry of their own that `/metrics` appends."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "acc_api_requests",
            "Requests answered, by method, route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "acc_api_request_duration_seconds",
            "From a request's arrival to its response's start",
            ["method", "route"],
            buckets=SECONDS,
            registry=self.registry,
        )


class Measured:
    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                route = scope.get("route")
                path = route.path if isinstance(route, APIRoute) else "other"
                self.metrics.seconds.labels(scope["method"], path).observe(
                    time.perf_counter() - started
                )
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            route = scope.get("route")
            path = route.path if isinstance(route, APIRoute) else "other"
            self.metrics.requests.labels(scope["method"], path, str(status)).inc()
