from __future__ import annotations

import socket
from pathlib import Path

import pytest

from cli import stack
from core.settings import load_settings

pytestmark = pytest.mark.unit


def test_plan_starts_embedded_servers_only_for_what_is_not_configured(tmp_path: Path) -> None:
    embedded = [p.name for p in stack.plan(load_settings(DATA_DIR=tmp_path))]
    assert embedded == [
        "temporal",
        "kafka",
        "redis",
        "database",
        "worker",
        "aggregator",
        "api",
        "pool",
    ]
    external = load_settings(
        DATA_DIR=tmp_path,
        TEMPORAL_ADDRESS="temporal:7233",
        KAFKA_BOOTSTRAP="kafka:9092",
        REDIS_URL="redis://redis:6379/0",
    )
    assert [p.name for p in stack.plan(external)] == [
        "database",
        "worker",
        "aggregator",
        "api",
        "pool",
    ]


def test_temporal_is_started_with_low_latency_flags_and_search_attributes(tmp_path: Path) -> None:
    temporal = stack.plan(load_settings(DATA_DIR=tmp_path, TEMPORAL_PORT=7300))[0]
    argv = " ".join(temporal.argv)
    assert "--port 7300" in argv and "history.transferProcessorMaxPollRPS=1000" in argv
    assert "--search-attribute AccPattern=Keyword" in argv
    assert f"--db-filename {tmp_path}/temporal.db" in argv


def test_a_busy_port_names_the_port_and_the_setting(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = load_settings(DATA_DIR=tmp_path, KAFKA_PORT=port)
        with pytest.raises(stack.StackError) as exc:
            stack.check_ports(settings, stack.plan(settings))
    assert f"port {port}" in str(exc.value) and "ACC_KAFKA_PORT" in str(exc.value)


def test_a_second_lock_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    settings = load_settings(DATA_DIR=tmp_path)
    first = stack.StackLock(settings)
    first.acquire()
    try:
        with pytest.raises(stack.StackError, match="already running"):
            stack.StackLock(settings).acquire()
    finally:
        first.release()
    again = stack.StackLock(settings)
    again.acquire()
    again.release()
