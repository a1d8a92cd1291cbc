"""Real local servers for tests, the replay recorder and the benchmarks, started from the
command lines `acc up` uses (`core.servers`): a Temporal dev server, a Tansu broker and a
redis-server, each on a free port or socket, stopped (and waited for) on exit."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from core import servers
from core.settings import Settings, load_settings
from core.temporal import PATTERN, QUALITY, RUN_NAME, STATUS, TENANT

HOST = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago (held open together)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def free_port() -> int:
    return free_ports(1)[0]


def wait_tcp(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {HOST}:{port}")


def wait_path(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return
        time.sleep(0.02)
    raise TimeoutError(f"{path} did not appear")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def tansu(
    log: Path | None = None, port: int | None = None, advertised: str | None = None
) -> Iterator[str]:
    """A Tansu broker (Kafka wire protocol, in memory); yields its bootstrap address.
    `advertised`: the host:port it tells clients to use (a proxy in front of it)."""
    port = port or free_port()
    out = log.open("wb") if log is not None else subprocess.DEVNULL
    argv = servers.tansu_broker(port, advertised=advertised)
    try:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]
    try:
        wait_tcp(port)
        yield f"{HOST}:{port}"
    finally:
        stop(proc)


@contextlib.contextmanager
def redis_server(data_dir: Path, settings: Settings | None = None) -> Iterator[str]:
    """An embedded redis-server on a unix socket in `data_dir`; yields its URL."""
    sock = data_dir / "redis.sock"
    argv = servers.redis_server(settings or load_settings(), sock, data_dir)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_path(sock)
        yield f"unix://{sock}"
    finally:
        stop(proc)


async def temporal_dev_server(settings: Settings | None = None) -> WorkflowEnvironment:
    """A Temporal dev server on a free port, with acc's search attributes and low latency.
    `port=None`: with a fixed port that is taken, start_local silently uses the other server."""
    settings = settings or load_settings()
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(servers.bundled_binary(settings, "temporal")),
        port=None,
        data_converter=pydantic_data_converter,
        search_attributes=[PATTERN, TENANT, RUN_NAME, QUALITY, STATUS],
        dev_server_extra_args=servers.TEMPORAL_LOW_LATENCY,
    )
