"""`acc events tail` reads the real broker's events topic as a user runs it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from core.bus import EventBus, ensure_topics
from core.events import Event
from core.settings import load_settings
from tests.unit.core.test_events import V1_STEP_COMPLETED

pytestmark = pytest.mark.integration


def tail_env(bootstrap: str, topic: str, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACC_")}
    return {
        **env,
        "ACC_KAFKA_BOOTSTRAP": bootstrap,
        "ACC_EVENTS_TOPIC": topic,
        "ACC_DATA_DIR": str(tmp),
    }


async def acc(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", *args, env=env, stdout=-1, stderr=-1
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_tail_filters_reads_older_versions_and_skips_garbage(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = f"tail-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [topic])
    raw = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await raw.start()
    v1 = {**V1_STEP_COMPLETED, "run_id": "run-a", "time": "2026-11-30T10:00:00Z"}
    await raw.send_and_wait(topic, json.dumps(v1).encode(), key=b"run-a")
    await raw.send_and_wait(topic, b"not an event", key=b"run-a")
    await raw.stop()
    bus = EventBus.from_settings(
        load_settings(KAFKA_BOOTSTRAP=kafka_bootstrap, EVENTS_TOPIC=topic, DATA_DIR=tmp_path)
    )
    await bus.start()
    for run, kind in [
        ("run-a", "step.failed"),
        ("run-b", "step.completed"),
        ("run-a", "run.failed"),
    ]:
        await bus.publish(Event(type=kind, source="t", run_id=run, agent="shell"))  # type: ignore[arg-type]
    await bus.stop()
    env = tail_env(kafka_bootstrap, topic, tmp_path)

    code, out, err = await acc(env, "events", "tail", "--run", "run-a", "--type", "step", "--json")
    assert code == 0, err
    events = [Event.decode(line) for line in out.splitlines()]
    assert [(e.run_id, e.type, e.version) for e in events] == [
        ("run-a", "step.completed", 2),  # published as version 1, read as the current one
        ("run-a", "step.failed", 2),
    ]
    assert events[0].tokens == 150
    assert "1 message(s) were not acc events" in err

    code, out, _ = await acc(env, "events", "tail", "--since", "1h")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 3  # the version-1 event is older than an hour
    (other,) = [line for line in lines if "run-b" in line]
    assert "step.completed" in other and "agent=shell" in other


async def test_tail_follow_prints_events_as_they_arrive(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = f"follow-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [topic])
    env = tail_env(kafka_bootstrap, topic, tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "events",
        "tail",
        "--follow",
        "--json",
        "--type",
        "run",
        env=env,
        stdout=-1,
        stderr=-1,
    )
    bus = EventBus.from_settings(
        load_settings(KAFKA_BOOTSTRAP=kafka_bootstrap, EVENTS_TOPIC=topic, DATA_DIR=tmp_path)
    )
    await bus.start()
    try:
        assert proc.stdout is not None
        await asyncio.sleep(2)  # caught up with an empty topic, and still there
        assert proc.returncode is None
        await bus.publish(Event(type="step.started", source="t", run_id="r"))
        done = Event(type="run.completed", source="t", run_id="r")
        await bus.publish(done)
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert Event.decode(line).id == done.id
    finally:
        proc.terminate()
        await proc.wait()
        await bus.stop()
