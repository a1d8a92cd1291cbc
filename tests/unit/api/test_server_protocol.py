"""Every API connection has Nagle's algorithm off, also on sockets that say protocol 0
(the listening socket uvicorn binds itself for ACC_API_WORKERS above 1), where asyncio
leaves it on and each response waits for the client's delayed ACK."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn
from uvicorn.server import ServerState

from api.server import NoDelayProtocol

pytestmark = pytest.mark.unit


async def app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("not called: no request is sent")


async def test_a_connection_accepted_on_a_protocol_0_socket_gets_tcp_nodelay() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as uvicorn's
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    config = uvicorn.Config(app, http=NoDelayProtocol, log_level="warning")
    config.load()
    made: list[NoDelayProtocol] = []

    def protocol() -> NoDelayProtocol:
        made.append(NoDelayProtocol(config, ServerState(), {}))
        return made[-1]

    loop = asyncio.get_running_loop()
    server = await loop.create_server(protocol, sock=listener)
    try:
        _, writer = await asyncio.open_connection(*listener.getsockname())
        for _ in range(100):
            if made and made[0].transport is not None:
                break
            await asyncio.sleep(0.01)
        accepted = made[0].transport.get_extra_info("socket")
        assert accepted.proto == 0  # asyncio did not set it: the protocol did
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
