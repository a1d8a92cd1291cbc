"""A run's events pushed by the WebSocket pool, for `acc run` and `acc watch`: the CLI
reads the run's view again when something happened instead of polling for it. Read in a
background thread (the CLI is synchronous); when the pool cannot be reached, `broken` is
set and the caller polls the API as before."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from typing import Any

from core.settings import Settings

REFRESH_SECONDS = 5.0  # read the run again at least this often, events or not


class RunFeed:
    def __init__(self, settings: Settings, run_id: str) -> None:
        self.broken = threading.Event()
        self._events: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._urls, self._token = settings.pool_urls, settings.api_key() or ""
        self._settings = settings
        self._channel = f"run:{run_id}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="run-feed", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.run(self._follow())

    async def _follow(self) -> None:
        from core.transport import pool_client_tls
        from pool.subscriber import subscribe

        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            tls = pool_client_tls(self._settings, "wss://")  # used for wss:// nodes only
            async for _, event in subscribe(
                self._urls, self._token, self._channel, stop=self._stop, attempts=3, tls=tls
            ):
                self._events.put(event)
        except Exception:
            self.broken.set()

    def wait(self, timeout: float = REFRESH_SECONDS) -> list[dict[str, Any]]:
        """The events that arrived, waiting up to `timeout` for the first."""
        try:
            events = [self._events.get(timeout=timeout)]
        except queue.Empty:
            return []
        with contextlib.suppress(queue.Empty):
            while True:
                events.append(self._events.get_nowait())
        return events

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=1)
