"""Health and metrics endpoints of a process that has no HTTP server of its own (workers):
`/healthz` (the event loop answers), `/readyz` (the process serves; 503 with the reason when
not, and while it drains after SIGTERM) and `/metrics` (Prometheus, this process's default
registry, followed by the Temporal SDK's series on a worker that collects them).
Kubernetes probes, Docker's HEALTHCHECK and Prometheus read them on ACC_HEALTH_PORT.

A few lines on asyncio's own server: three GET routes, answered and closed, need no web
framework (and uvicorn would take over the process's SIGTERM handling the worker owns).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from core.settings import Settings, load_settings

ReadyCheck = Callable[[], Awaitable[str | None]]
READ_TIMEOUT_SECONDS = 5.0
CHECK_TIMEOUT_SECONDS = 3.0
MAX_REQUEST_BYTES = 8192


class HealthServer:
    """Serves the three routes on host:port while entered. `ready` returns None when the
    process can serve, else the reason it cannot."""

    PATHS = ("/healthz", "/readyz", "/metrics")

    def __init__(
        self, host: str, port: int, ready: ReadyCheck, *, also_metrics: str | None = None
    ) -> None:
        self.host = host
        self.port = port
        self._ready = ready
        self._also = also_metrics  # another exporter's URL whose series /metrics appends
        self._server: asyncio.Server | None = None
        self.draining = False

    async def __aenter__(self) -> HealthServer:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        if self.port == 0:  # a free port was asked for: say which
            self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_SECONDS)
            status, ctype, body = await self._answer(head[:MAX_REQUEST_BYTES])
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            status, ctype, body = 400, "text/plain", b"bad request\n"
        except ConnectionError:
            writer.close()
            return
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
        writer.write(
            f"HTTP/1.1 {status} {reason.get(status, 'Service Unavailable')}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def _answer(self, head: bytes) -> tuple[int, str, bytes]:
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(parts) != 3:
            return 400, "text/plain", b"bad request\n"
        method, target, _ = parts
        path = target.split("?", 1)[0]
        if path not in self.PATHS:
            return 404, "text/plain", b"not found\n"
        if method != "GET":
            return 405, "text/plain", b"method not allowed\n"
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest() + await self._other_metrics()
        if path == "/healthz":
            return 200, "application/json", b'{"status": "ok"}'
        reason = "draining: stopping after SIGTERM" if self.draining else await self._check()
        body = {"status": "ok"} if reason is None else {"status": "down", "reason": reason}
        return (200 if reason is None else 503), "application/json", json.dumps(body).encode()

    async def _other_metrics(self) -> bytes:
        """The other exporter's series (the Temporal SDK's), or none when it does not
        answer: a scrape still gets this process's own."""
        if self._also is None:
            return b""
        try:
            return await asyncio.wait_for(asyncio.to_thread(_fetch, self._also), 2)
        except (OSError, TimeoutError):
            return b""

    async def _check(self) -> str | None:
        try:
            return await asyncio.wait_for(self._ready(), CHECK_TIMEOUT_SECONDS)
        except Exception as exc:
            return str(exc) or type(exc).__name__


def check_local(
    settings: Settings, ready: bool = False, port: int | None = None
) -> tuple[bool, str]:
    """Whether this container's process answers its probe (`acc health`, Docker's
    HEALTHCHECK). The port: `port`, else ACC_HEALTH_PORT (workers, the aggregator), else the
    API's or the pool's, whichever this container serves (the image runs either). Returns
    (ok, what to print)."""
    ports = [port or settings.HEALTH_PORT] if port or settings.HEALTH_PORT else []
    ports = ports or [settings.API_PORT, settings.POOL_PORT]
    answers = [_ask(f"http://127.0.0.1:{p}/{'readyz' if ready else 'healthz'}") for p in ports]
    return next((a for a in answers if a[0]), answers[0])


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=CHECK_TIMEOUT_SECONDS) as answer:
        body: bytes = answer.read()
    return body if body.endswith(b"\n") or not body else body + b"\n"


def _ask(url: str) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=CHECK_TIMEOUT_SECONDS) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:
        return False, f"{url} answered {exc.code}: {exc.read()[:200].decode(errors='replace')}"
    except (OSError, ValueError) as exc:
        return False, f"no answer from {url}: {exc}"
    return True, f"{url}: ok"


if __name__ == "__main__":  # python -m core.health [--ready]
    ok, message = check_local(load_settings(), ready="--ready" in sys.argv[1:])
    (sys.stdout if ok else sys.stderr).write(message + "\n")
    sys.exit(0 if ok else 1)
