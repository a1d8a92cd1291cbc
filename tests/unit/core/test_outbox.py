"""The outbox keeps events in order within its bound; a bus without a broker fills it."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.bus import EventBus
from core.events import Event
from core.outbox import Outbox, Sequence
from core.settings import load_settings

pytestmark = pytest.mark.unit


def test_the_outbox_keeps_publication_order_and_drops_the_oldest_past_its_bound(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "outbox.db", max_events=3)
    seq = Sequence()
    order = [seq.next() for _ in range(5)]
    # Written out of order (a failed delivery comes back late): read back by sequence.
    for i in (1, 0, 2, 3, 4):
        outbox.put(order[i], "t", b"k", f"e{i}".encode())
    assert outbox.backlog() == 3 and outbox.dropped() == 2
    held = outbox.oldest(10)
    assert [h.value for h in held] == [b"e2", b"e3", b"e4"]
    outbox.remove([held[0].id])
    assert [h.value for h in outbox.oldest(10)] == [b"e3", b"e4"]
    outbox.close()
    # A second process sharing the file sees the same backlog and drops.
    again = Outbox(tmp_path / "outbox.db", max_events=3)
    assert again.backlog() == 2 and again.dropped() == 2
    with again.draining() as first, again.draining() as second:
        assert first and not second  # one drainer at a time
    again.close()


async def test_a_bus_without_a_broker_keeps_events_in_its_bounded_outbox(tmp_path: Path) -> None:
    settings = load_settings(KAFKA_BOOTSTRAP="127.0.0.1:1", DATA_DIR=tmp_path, OUTBOX_MAX_EVENTS=4)
    bus = EventBus.from_settings(settings)
    bus._queue_timeout = 0.1
    for i in range(6):
        await bus.publish(Event(type="step.started", source="test", run_id="r", data={"i": i}))
    assert bus.failed == 6 and bus.published == 0
    assert bus.backlog() == 4 and bus.dropped == 2 and bus.outbox_dropped() == 2
    await bus.stop()


async def test_without_an_outbox_events_the_broker_refuses_are_counted_lost(
    tmp_path: Path,
) -> None:
    settings = load_settings(KAFKA_BOOTSTRAP="127.0.0.1:1", DATA_DIR=tmp_path, OUTBOX_MAX_EVENTS=0)
    bus = EventBus.from_settings(settings)
    await bus.publish(Event(type="run.started", source="test", run_id="r"))
    assert bus.failed == 1 and bus.dropped == 1 and bus.backlog() == 0
    assert not (tmp_path / "outbox.db").exists()
