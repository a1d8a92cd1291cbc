"""Following a channel of the pool (`runs`, `run:{id}`) as a library, for `acc watch` and
dashboards: events as they are published, across reconnects (to any node, with backoff
and jitter) without a gap or a duplicate, by resuming from the last position seen.

    async for position, event in subscribe(urls, token, "run:abc", stop=stop):
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from pool import protocol as p
from pool.retry import Backoff, Refused


async def subscribe(
    urls: list[str],
    token: str,
    channel: str,
    *,
    after: str | None = None,
    stop: asyncio.Event | None = None,
    backoff: Backoff | None = None,
    attempts: int | None = None,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(position, event) pairs of `channel` until `stop` is set. Raises Refused for a bad
    credential, and ConnectionError after `attempts` failed connections in a row. `tls`
    verifies wss:// nodes (`core.transport.pool_client_tls`; the system's roots without)."""
    stop = stop or asyncio.Event()
    backoff = backoff or Backoff(base=0.2, cap=5)
    position, turn, failures = after, 0, 0
    while not stop.is_set():
        url = urls[turn % len(urls)]
        turn += 1
        try:
            context = (tls or ssl.create_default_context()) if url.startswith("wss://") else None
            async with connect(url, open_timeout=5, max_size=None, ssl=context) as ws:
                await ws.send(p.encode(p.Hello(token=token, role="subscriber")))
                registered = p.parse_server(await ws.recv())
                if not isinstance(registered, p.Registered):
                    raise ConnectionError(f"expected registered, got {registered.type}")
                await ws.send(p.encode(p.Subscribe(channel=channel, after=position)))
                failures = 0
                backoff.reset()
                async for raw in ws:
                    message = p.parse_server(raw)
                    if isinstance(message, p.Subscribed):
                        position = position or message.position
                    elif isinstance(message, p.EventMessage):
                        position = message.position
                        yield message.position, message.event
                    elif isinstance(message, p.Ping):
                        await ws.send(p.encode(p.Pong(nonce=message.nonce)))
                    elif isinstance(message, p.Reconnect):
                        break
                    if stop.is_set():
                        return
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == p.CLOSE_POLICY:
                raise Refused(exc.rcvd.reason) from None
            failures += 1
        except (OSError, InvalidHandshake, TimeoutError, ConnectionError):
            failures += 1
        if attempts is not None and failures >= attempts:
            raise ConnectionError(f"the pool at {', '.join(urls)} cannot be reached")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), backoff.next())
