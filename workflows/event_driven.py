"""Event-driven: a long-lived run that reacts to events until a `stop_on` event.

Events arrive as the `event` signal, from `POST /v1/runs/{id}/events` or from the bus
bridge (topic messages turned into signals). Each is handled once (deduplicated by id)
by the first handler whose `on` matches its type (`*` matches any), in arrival order;
the handler's step reads the event's data as JSON. A failing handler is noted and the
run keeps listening. After `events_per_history` events (or when Temporal suggests it)
the run continues as new, carrying its counters, usage and queue, so its history stays
small however long it lives.
"""

from __future__ import annotations

import json

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from core.contracts import (
        WORKFLOW_OF_PATTERN,
        ExternalEvent,
        Output,
        RunInput,
        RunState,
    )
    from core.specs import EventDrivenSpec
    from workflows.base import PatternWorkflow

SEEN_IDS_KEPT = 1000


@workflow.defn(name=WORKFLOW_OF_PATTERN["event-driven"])
class EventDrivenWorkflow(PatternWorkflow):
    def __init__(self) -> None:
        super().__init__()
        self._queue: list[ExternalEvent] = []
        self._seen: dict[str, None] = {}  # insertion-ordered set

    @workflow.signal
    def event(self, event: ExternalEvent) -> None:
        if event.id in self._seen:
            return
        self._seen[event.id] = None
        self._queue.append(event)

    @workflow.run
    async def run(self, inp: RunInput) -> RunState:
        if inp.carried is not None:
            self._seen |= dict.fromkeys(inp.carried.seen_event_ids)
            self._queue = inp.carried.queued + self._queue
        return await self.execute(inp)

    async def body(self) -> Output:
        spec = self.inp.spec
        assert isinstance(spec, EventDrivenSpec)
        state = self.run_state
        in_this_history = 0
        while True:
            await workflow.wait_condition(lambda: bool(self._queue))
            event = self._queue.pop(0)
            if event.type == spec.stop_on:
                self.note(f"stopped by event {event.id}")
                return Output.of(json.dumps({"events_handled": state.events_handled}))
            if await self._handle(spec, event):
                state.events_handled += 1
            in_this_history += 1
            if spec.max_events is not None and state.events_handled >= spec.max_events:
                self.note(f"max_events {spec.max_events} reached")
                return Output.of(json.dumps({"events_handled": state.events_handled}))
            if in_this_history >= spec.events_per_history or (
                workflow.info().is_continue_as_new_suggested()
            ):
                await self._continue_as_new()

    async def _handle(self, spec: EventDrivenSpec, event: ExternalEvent) -> bool:
        """Run the event's handler; False when no handler matches its type."""
        handler = next((h for h in spec.handlers if h.on in (event.type, "*")), None)
        if handler is None:
            self.note(f"event {event.id} ({event.type}) has no handler")
            return False
        try:
            await self.agent_step(
                handler.step, Output.of(json.dumps(event.data)), group=f"event-{event.id}"
            )
        except ApplicationError as err:
            self.note(f"handler for event {event.id} failed: {err.message}")
        return True

    async def _continue_as_new(self) -> None:
        await self.continue_as_new(
            seen_event_ids=list(self._seen)[-SEEN_IDS_KEPT:], queued=self._queue
        )
