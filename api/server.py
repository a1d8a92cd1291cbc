"""How `acc api` serves: uvicorn's HTTP/1.1 protocol (httptools) with TCP_NODELAY on every
connection, and with ACC_API_WORKERS above 1, worker processes that each listen on a
socket of their own.

Worker sockets: uvicorn's own workers all accept from one socket the parent bound, and
whichever is idle when connections arrive takes them, for as long as they stay open. With
1,000 keep-alive clients one worker held nearly all of them at 100% CPU while the other
idled, and the list's p95 doubled from run to run. Here each worker binds the port with
SO_REUSEPORT, so the kernel spreads new connections evenly over the workers. The parent
binds nothing; it checks the port is free first (a clear error, and no joining the
sockets of another `acc api` on it), restarts a worker that dies, stops them all on
SIGTERM or SIGINT, and exits when a worker's app cannot start (an unreachable database,
say) rather than start it again and again.

TCP_NODELAY: asyncio turns Nagle's algorithm off only on sockets that say IPPROTO_TCP, and
uvicorn binds with protocol 0: each response then waited for the client's delayed ACK, 40
ms a request on Linux."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from asyncio import BaseTransport
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)
PROTOCOL = "api.server:NoDelayProtocol"
APP_FACTORY = "api.main:create_app"  # each worker builds the app from its environment
STOP_SECONDS = 15.0
BACKLOG = 2048
ORPHAN_CHECK_SECONDS = 1.0
STARTUP_FAILURE = 3  # uvicorn's exit code when the app cannot start


class NoDelayProtocol(HttpToolsProtocol):
    def connection_made(self, transport: BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)  # type: ignore[arg-type]


def listener(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A listening TCP socket on host:port (IPv6 when the host is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def _worker(host: str, port: int, log_level: str) -> None:
    """One worker process: its own SO_REUSEPORT socket, the app built from the environment.
    It stops itself if the parent goes (killed with -9, say), not to hold the port alone."""
    threading.Thread(target=_orphaned, args=(os.getppid(),), daemon=True).start()
    config = uvicorn.Config(
        APP_FACTORY, factory=True, http=PROTOCOL, log_level=log_level, host=host, port=port
    )
    uvicorn.Server(config).run(sockets=[listener(host, port, reuse_port=True)])


def _orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown


class StartupFailed(RuntimeError):
    """A worker's app could not start: its log says why."""


class Workers:
    """`count` worker processes on one port, kept running until stop()."""

    def __init__(self, host: str, port: int, count: int, log_level: str) -> None:
        self._args = (host, port, log_level)
        self._count = count
        self._context = multiprocessing.get_context("spawn")
        self._stopping = threading.Event()
        self.processes: list[BaseProcess] = []

    def run(self) -> None:
        """Serve until SIGTERM or SIGINT; a worker that dies meanwhile is replaced."""
        host, port, _ = self._args
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stopping.set())
        self.processes = [self._start() for _ in range(self._count)]
        log.info("serving on %s:%d with %d worker processes", host, port, self._count)
        try:
            while not self._stopping.wait(0.5):
                for n, process in enumerate(self.processes):
                    if process.is_alive():
                        continue
                    if process.exitcode == STARTUP_FAILURE:  # another would fail alike
                        raise StartupFailed(process.pid)
                    log.warning("API worker %s ended (%s): starting another",
                                process.pid, process.exitcode)  # fmt: skip
                    self.processes[n] = self._start()
        finally:
            self.stop()

    def stop(self) -> None:
        self._stopping.set()
        for process in self.processes:
            if process.is_alive():
                process.terminate()  # uvicorn's graceful shutdown
        for process in self.processes:
            process.join(STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()

    def _start(self) -> BaseProcess:
        process = self._context.Process(target=_worker, args=self._args, daemon=False)
        process.start()
        return process


def serve(app: Any, host: str, port: int, workers: int, log_level: str) -> None:
    """Serve `app` in this process, or APP_FACTORY in `workers` processes. OSError when
    the port is taken (checked first: workers would otherwise join another server's
    SO_REUSEPORT sockets, and uvicorn would only log it)."""
    listener(host, port, reuse_port=False).close()
    if workers == 1:
        uvicorn.run(app, http=PROTOCOL, host=host, port=port, log_level=log_level)
    else:
        Workers(host, port, workers, log_level).run()
