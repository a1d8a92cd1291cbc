"""The Redis client of a process, built in one place. Keys acc writes all start with
`ACC_REDIS_PREFIX` (default "acc:"), so deployments (and tests) can share one server."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from core.settings import Settings
from core.transport import redis_options

CONNECT_TIMEOUT_SECONDS = 2.0


def connect(settings: Settings, **options: Any) -> Redis:
    """A client for ACC_REDIS_URL (TLS with rediss://); it connects on its first command."""
    options = {**redis_options(settings), **options}
    options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT_SECONDS)
    return Redis.from_url(settings.redis_url, **options)
