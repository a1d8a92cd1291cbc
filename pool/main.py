"""The `acc pool` process: one pool node with its clients, until SIGTERM (then drained)."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from contextlib import AsyncExitStack
from typing import Any

from core import db, temporal
from core import redis as redis_client
from core.bus import EventBus
from core.redact import Redactor, redact_logs
from core.settings import Settings
from pool.node import PoolNode

FIELDS = ("connection", "run", "task")


class JsonLogs(logging.Formatter):
    """One JSON object a line, with the run, task and connection ids a record carries."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: getattr(record, k) for k in FIELDS if hasattr(record, k)})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogs())
    logging.basicConfig(level=settings.LOG_LEVEL.upper(), handlers=[handler], force=True)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


async def serve(settings: Settings) -> None:
    redact_logs(Redactor.of(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        client = await temporal.connect(settings, lazy=True)
        engine = db.create_engine(settings)
        stack.push_async_callback(engine.dispose)
        await db.migrate(engine, settings.DATABASE_SCHEMA)
        bus = EventBus.from_settings(settings, also_keep=[settings.DEAD_LETTER_TOPIC])
        await bus.start_or_degrade()
        stack.push_async_callback(bus.stop)
        redis = redis_client.connect(settings)
        stack.push_async_callback(redis.aclose)
        node = PoolNode(settings, temporal=client, redis=redis, engine=engine, bus=bus)
        await node.serve(stop)
