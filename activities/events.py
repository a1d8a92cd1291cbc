"""Run lifecycle events, published from a local activity because workflow code does no I/O."""

from __future__ import annotations

from temporalio import activity

from core.bus import EventBus
from core.contracts import PUBLISH_RUN_EVENT, RunEvent
from core.events import Event


class RunEventActivities:
    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    @activity.defn(name=PUBLISH_RUN_EVENT)
    async def publish_run_event(self, event: RunEvent) -> None:
        await self._bus.publish(
            Event(
                type=event.type,
                source="worker/orchestration",
                run_id=event.run_id,
                tenant=event.tenant,
                data=event.model_dump(
                    mode="json",
                    include={"pattern", "name", "error", "quality", "waiting"},
                    exclude_none=True,
                ),
            )
        )
