"""The pool protocol: the published schema is the code's, messages parse or are refused
with the close code the protocol names, and client backoff grows with jitter."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from pool import protocol as p
from pool.retry import Backoff
from pool.subscriptions import format_position, parse_position

pytestmark = pytest.mark.unit

SCHEMA = Path(__file__).resolve().parents[3] / "docs" / "pool-protocol.schema.json"


def test_the_published_schema_is_the_protocol_of_the_code() -> None:
    assert json.loads(SCHEMA.read_text()) == p.json_schema(), (
        "docs/pool-protocol.schema.json is stale: `acc pool --schema > "
        "docs/pool-protocol.schema.json` writes it again"
    )


def test_messages_round_trip_and_default_to_version_1() -> None:
    hello = p.parse_client('{"type": "hello", "token": "t", "capabilities": ["code"]}')
    assert isinstance(hello, p.Hello) and hello.v == 1 and hello.capacity == 1
    pong = p.Pong(nonce="n")
    assert p.parse_server(p.encode(pong)) == pong


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("{", "malformed JSON"),
        ("[1]", "a message is a JSON object"),
        ('{"type": "dance"}', "does not match any of the expected tags"),
        ('{"type": "result"}', "result.task_id: Field required"),
        ('{"type": "ping", "v": 2}', "protocol version 2"),
        ('{"type": "hello", "capacity": 0}', "hello.capacity"),
        ('{"type": "subscribe", "channel": "secrets"}', "channel"),
    ],
)
def test_bad_frames_are_refused_with_1007_and_a_reason(frame: str, reason: str) -> None:
    with pytest.raises(p.ProtocolError) as refused:
        p.parse_client(frame)
    assert refused.value.code == p.CLOSE_INVALID_DATA
    assert reason in refused.value.reason


def test_positions_read_back_as_written() -> None:
    assert parse_position(format_position({2: 19, 0: 41})) == {0: 41, 2: 19}
    assert parse_position("1:7") == {1: 7} and parse_position(None) == {}
    with pytest.raises(p.ProtocolError):
        parse_position("one:two")


def test_backoff_grows_exponentially_with_full_jitter_up_to_its_cap() -> None:
    backoff = Backoff(base=0.5, cap=4, rng=random.Random(7))
    waits = [backoff.next() for _ in range(8)]
    ceilings = [0.5, 1, 2, 4, 4, 4, 4, 4]
    assert all(0 <= w <= c for w, c in zip(waits, ceilings, strict=True))
    assert len(set(waits)) == len(waits)  # jittered, not lock-step
    backoff.reset()
    assert backoff.next() <= 0.5
