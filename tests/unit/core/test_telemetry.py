"""Tracing's configuration: off without ACC_OTEL_ENDPOINT (no interceptors, spans are
no-ops); with it, spans reach an OTLP/HTTP collector (a stand-in: a real local HTTP server
that decodes what the real exporter posts) when tracing stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from core import telemetry
from core.settings import load_settings

pytestmark = pytest.mark.unit


@contextmanager
def collector() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    """A stand-in OTLP/HTTP collector recording each export request it receives."""
    received: list[ExportTraceServiceRequest] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(ExportTraceServiceRequest.FromString(body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", received
    finally:
        server.shutdown()
        server.server_close()


def test_tracing_is_off_without_an_endpoint() -> None:
    assert telemetry.start_tracing(load_settings(OTEL_ENDPOINT=None), "test") is None
    assert telemetry.interceptors() == []
    with telemetry.span("nothing"):
        pass


def test_spans_reach_the_collector_named_by_the_endpoint() -> None:
    with collector() as (url, received):
        provider = telemetry.start_tracing(load_settings(OTEL_ENDPOINT=url), "worker")
        assert provider is not None
        try:
            assert len(telemetry.interceptors()) == 1
            with telemetry.span("backend shell", step="s0"):
                pass
        finally:
            telemetry.stop_tracing()  # sends what the batch holds
    assert telemetry.interceptors() == []
    [request] = received
    [resource] = request.resource_spans
    service = {a.key: a.value.string_value for a in resource.resource.attributes}
    assert service["service.name"] == "acc-worker"
    [span] = [s for scope in resource.scope_spans for s in scope.spans]
    assert span.name == "backend shell"
    assert {a.key: a.value.string_value for a in span.attributes} == {"step": "s0"}
