"""OpenTelemetry traces across API -> workflow -> activity -> backend.

Off unless ACC_OTEL_ENDPOINT names an OTLP/HTTP collector. When on, a process calls
`start_tracing` once at start-up; then the API's requests get server spans
(`instrument_app`), the Temporal client and worker carry the trace through workflow and
activity headers (`interceptors`: temporalio's `TracingInterceptor`), and each agent call
opens a backend span (`span`). One request that starts a run is one trace, down to the
agent's backend.

The provider is kept here rather than only as OpenTelemetry's global one, so it can be
started with another exporter (a test's in-memory one) and stopped again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from temporalio.client import Interceptor

from core.settings import Settings

_provider: TracerProvider | None = None


def start_tracing(
    settings: Settings, service: str, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """Trace this process to ACC_OTEL_ENDPOINT (or to `exporter`, synchronously); None
    when neither is given. The endpoint's provider also becomes OpenTelemetry's global
    one if none is set."""
    global _provider
    if exporter is None and not settings.OTEL_ENDPOINT:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": f"acc-{service}"}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.OTEL_ENDPOINT))
        )
    _provider = provider
    if exporter is None and not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(provider)  # for libraries that trace on the global one
    return provider


def stop_tracing() -> None:
    """Send what is buffered and stop tracing this process."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


def interceptors() -> list[Interceptor]:
    """Client interceptors carrying the trace into workflows and activities; a worker built
    on the client inherits them. Empty when tracing is off."""
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_provider.get_tracer("temporalio"))]


def instrument_app(app: Any) -> None:
    """Server spans for the API's requests (one per request, named by its route)."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=_provider, excluded_urls="healthz,readyz,metrics"
    )


@contextmanager
def span(name: str, **attributes: str | int | float | bool) -> Iterator[None]:
    """A span in the current trace (a no-op when tracing is off)."""
    if _provider is None:
        yield
        return
    with _provider.get_tracer("acc").start_as_current_span(name, attributes=attributes):
        yield
