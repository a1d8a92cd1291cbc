"""uvicorn's HTTP/1.1 protocol (httptools) with TCP_NODELAY on every connection.

With ACC_API_WORKERS above 1, uvicorn binds the listening socket itself with protocol 0,
and asyncio only turns Nagle's algorithm off on sockets that say IPPROTO_TCP: each
response then waited for the client's delayed ACK, 40 ms a request on Linux."""

from __future__ import annotations

import contextlib
import socket
from asyncio import BaseTransport

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class NoDelayProtocol(HttpToolsProtocol):
    def connection_made(self, transport: BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)  # type: ignore[arg-type]
