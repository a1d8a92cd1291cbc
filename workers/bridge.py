"""Bus bridge: messages on the signals topic become `event` signals to event-driven runs.

A message is `{"run_id": ..., "event": {"id", "type", "data"}}` (JSON), keyed by run id.
The bridge is a consumer group (one per deployment, `acc-bridge`), so its work is split
across workers by partition; offsets are committed after delivery (at-least-once), and
runs deduplicate events by id. A message that is not valid, or names a run that does not
exist or has ended, is logged and skipped so it never blocks the partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pydantic import BaseModel, ValidationError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.bus import build_consumer
from core.contracts import ExternalEvent
from core.settings import Settings
from core.transport import kafka_options

log = logging.getLogger(__name__)
GROUP = "acc-bridge"
STOP_TIMEOUT_SECONDS = 1.0


class SignalMessage(BaseModel):
    run_id: str
    event: ExternalEvent


async def deliver(client: Client, raw: bytes) -> str:
    """Signal one message's run; returns what happened (for logs and tests)."""
    try:
        message = SignalMessage.model_validate_json(raw)
    except ValidationError as exc:
        log.warning("bridge: skipped an invalid message: %s", exc.errors()[0]["msg"])
        return "invalid"
    try:
        await client.get_workflow_handle(message.run_id).signal("event", message.event)
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            log.warning(
                "bridge: run %s is unknown or has ended; event %s skipped",
                message.run_id,
                message.event.id,
            )
            return "skipped"
        raise
    return "delivered"


async def run_bridge(client: Client, settings: Settings, stop: asyncio.Event) -> None:
    consumer = build_consumer(
        settings.kafka_bootstrap,
        settings.SIGNALS_TOPIC,
        group_id=GROUP,
        auto_commit=False,
        **kafka_options(settings),
    )
    try:
        await consumer.start()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                for message in messages:
                    await deliver(client, message.value)
            if batch:
                await consumer.commit()
    finally:
        # Leaving the group waits for a join in progress (seconds on some brokers); a
        # stopping worker does not: the broker expires the member after its session.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(consumer.stop(), STOP_TIMEOUT_SECONDS)
