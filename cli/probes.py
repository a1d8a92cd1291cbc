"""Health probes for each part of the stack, used by `acc up` (wait until ready) and
`acc status` (show health). Each probe returns None when healthy, else a reason."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from core import bus, db, temporal
from core import redis as redis_client
from core.settings import Settings
from core.transport import kafka_options

# aiokafka logs every refused connection at ERROR; while waiting for a broker that is noise.
logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

Probe = Callable[[Settings], Coroutine[Any, Any, str | None]]
# A poller seen within this window counts as a live worker.
POLLER_FRESHNESS = timedelta(seconds=90)


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


async def temporal_probe(settings: Settings) -> str | None:
    try:
        client = await temporal.connect(settings)
        await client.service_client.check_health(timeout=timedelta(seconds=2))
    except Exception as exc:
        return f"unreachable at {settings.temporal_address}: {_short(exc)}"
    return None


async def kafka_probe(settings: Settings) -> str | None:
    """The broker answers a metadata request (it creates nothing: see core.bus)."""
    try:
        await asyncio.wait_for(
            bus.list_topics(settings.kafka_bootstrap, **kafka_options(settings)), 5
        )
    except Exception as exc:
        return f"unreachable at {settings.kafka_bootstrap}: {_short(exc)}"
    return None


async def redis_probe(settings: Settings) -> str | None:
    client = redis_client.connect(settings)
    try:
        await client.ping()
    except Exception as exc:
        return f"unreachable at {settings.redis_url}: {_short(exc)}"
    finally:
        await client.aclose()
    return None


async def database_probe(settings: Settings) -> str | None:
    sqlite_file = db.sqlite_path(settings.database_url)
    if sqlite_file is not None and not sqlite_file.exists():  # a probe must not create it
        return f"no database at {sqlite_file}"
    engine = db.create_engine(settings)
    try:
        await asyncio.wait_for(db.ping(engine), 5)
    except Exception as exc:
        return f"unreachable: {_short(exc)}"
    finally:
        await engine.dispose()
    return None


async def aggregator_probe(settings: Settings) -> str | None:
    """An aggregator reported in SQL within the last 10 seconds."""
    from analytics.heartbeats import alive

    if (reason := await database_probe(settings)) is not None:
        return reason
    engine = db.create_engine(settings)
    try:
        if not await asyncio.wait_for(alive(engine, 10), 5):
            return "no aggregator has reported in the last 10 s"
    except Exception as exc:
        return f"unreadable: {_short(exc)}"
    finally:
        await engine.dispose()
    return None


async def worker_probe(settings: Settings) -> str | None:
    try:
        client = await temporal.connect(settings)
    except Exception as exc:
        return _short(exc)
    now = datetime.now(UTC)
    queues = (
        (settings.ORCHESTRATION_QUEUE, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
        (settings.agents_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
    )
    for name, kind in queues:
        resp = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace, task_queue=TaskQueue(name=name), task_queue_type=kind
            )
        )
        fresh = [
            p for p in resp.pollers if now - p.last_access_time.ToDatetime(UTC) < POLLER_FRESHNESS
        ]
        if not fresh:
            return f"no worker polls task queue {name}"
    return None


async def api_probe(settings: Settings) -> str | None:
    try:
        async with httpx.AsyncClient(timeout=3) as http:
            resp = await http.get(f"{settings.api_url}/readyz")
    except httpx.HTTPError as exc:
        return f"unreachable at {settings.api_url}: {_short(exc)}"
    if resp.status_code != 200:
        return f"not ready: {resp.text[:200]}"
    return None


async def pool_probe(settings: Settings) -> str | None:
    """The first pool node's /readyz (plain HTTP on its WebSocket port)."""
    from core.transport import pool_client_tls

    first = settings.pool_urls[0]
    url = first.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
    try:
        verify = pool_client_tls(settings, first) or True  # wss://: ACC_POOL_TLS_CA
        async with httpx.AsyncClient(timeout=3, verify=verify) as http:
            resp = await http.get(f"{url}/readyz")
    except httpx.HTTPError as exc:
        return f"unreachable at {url}: {_short(exc)}"
    if resp.status_code != 200:
        return f"not ready: {resp.text[:200]}"
    return None


PROBES: dict[str, Probe] = {
    "temporal": temporal_probe,
    "kafka": kafka_probe,
    "redis": redis_probe,
    "database": database_probe,
    "worker": worker_probe,
    "aggregator": aggregator_probe,
    "api": api_probe,
    "pool": pool_probe,
}


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
