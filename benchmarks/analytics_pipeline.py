"""The metrics pipeline under load, each figure beside a baseline measured in the same run:

(a) events/s through producer -> broker -> aggregator -> SQL (counted and committed),
    with one aggregator and with two sharing the topic's three partitions, beside the
    broker alone (the same producer, a bare aiokafka consumer);
(b) latency from an event's emission to the 1-second window that counts it reaching a
    subscriber of the metrics topic, beside a bare produce -> consume on the broker;
(c) each /v1/analytics endpoint over 30 days of 1-minute rollups at 1 run/s, through the
    real API app (a `acc api` process), beside `/healthz` on the same server;
(d) `GET /v1/runs` with filters from the runs projection holding 100,000 runs, under N
    concurrent clients (1,000 from wrk when it is installed: `apt-get install wrk`; else
    200 from httpx in this process), beside `/healthz` under the same load. The API runs
    ACC_API_WORKERS processes (1 unless the environment says otherwise).

Stack (loopback, nothing mocked): a Tansu broker, an embedded redis-server, SQL (PostgreSQL
in a schema of its own when ACC_DATABASE_URL is set, else a SQLite file), the real
`Aggregator` in this process, `acc api` as a subprocess. The producer runs in a process of
its own, as a publishing worker would. Rollups and projection rows for (c) and (d) are
written straight to SQL (what the aggregator would have written over 30 days; the hourly
and daily rollups derived from the minutes with `analytics.grains.rebuild`).

    .venv/bin/python benchmarks/analytics_pipeline.py            # full (a few minutes)
    .venv/bin/python benchmarks/analytics_pipeline.py --quick    # smoke test, seconds
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from _stack import ROOT, machine_info, percentile, servers
from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics import grains
from analytics.aggregator import Aggregator
from analytics.fold import ROLLUP_SUMS
from analytics.sink import table_of
from analytics.tables import DurationBucket, Rollup, RunRecord
from analytics.windows import WindowMetrics
from core import db
from core.auth import ApiKeys
from core.bus import EventBus, build_consumer, ensure_topics
from core.events import Event
from core.settings import Settings, child_environment, load_settings
from tests.support.servers import free_port, wait_tcp
from tests.support.servers import stop as stop_process

PATTERNS = ("pipeline", "scatter-gather", "consensus", "saga", "supervisor")
AGENTS = ("llm:gpt-4o", "llm:claude", "shell")
FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 500}


@dataclass
class Sizes:
    events: int  # (a) events per case
    latency_seconds: float  # (b) seconds of emission
    latency_rate: int  # (b) events per second
    rollup_days: int  # (c)
    queries: int  # (c) requests per endpoint
    runs: int  # (d) runs in the projection
    clients: int  # (d) concurrent clients
    load_seconds: float  # (d) seconds per case


FULL = Sizes(200_000, 20, 200, 30, 50, 100_000, 1000 if shutil.which("wrk") else 200, 20)
QUICK = Sizes(4_000, 2.5, 100, 1, 5, 2_000, 10, 2)


# --- (a) throughput -------------------------------------------------------------------


def run_events(count: int, tenant: str) -> Iterator[Event]:
    """Runs of four events (started, a step started and completed, completed)."""
    now = datetime.now(UTC)
    for i in range(count // 4):
        base = {"source": "bench", "tenant": tenant, "run_id": f"r-{uuid.uuid4().hex[:12]}"}
        pattern, agent = PATTERNS[i % len(PATTERNS)], AGENTS[i % len(AGENTS)]
        step = {**base, "step": "s", "agent": agent}
        at = now + timedelta(microseconds=i)
        yield Event(type="run.started", time=at, data={"pattern": pattern, "name": "n"}, **base)
        yield Event(type="step.started", time=at, **step)
        yield Event(
            type="step.completed",
            time=at,
            cost_usd=0.001,
            tokens=120,
            data={"duration_ms": 200.0 + i % 400},
            **step,
        )
        yield Event(type="run.completed", time=at, data={"quality": 0.9}, **base)


def produce(bootstrap: str, topic: str, count: int, tenant: str, out: Any) -> None:
    """In a process of its own: publish `count` events as fast as the producer goes;
    report the wall time it started and the seconds it took."""
    asyncio.run(_produce(bootstrap, topic, count, tenant, out))


async def _produce(bootstrap: str, topic: str, count: int, tenant: str, out: Any) -> None:
    messages = [(e.key(), e.encode()) for e in run_events(count, tenant)]
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, acks=1, max_batch_size=262_144
    )
    await producer.start()
    try:
        out.put(time.time())
        began = time.perf_counter()
        for key, value in messages:
            await producer.send(topic, value, key=key)
        await producer.flush()
        out.put(time.perf_counter() - began)
    finally:
        await producer.stop()


@contextlib.contextmanager
def producing(bootstrap: str, topic: str, count: int, tenant: str) -> Iterator[Any]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=produce, args=(bootstrap, topic, count, tenant, out))
    process.start()
    try:
        yield out
    finally:
        process.join(60)
        if process.is_alive():
            process.kill()
            process.join()


async def until(condition: Callable[[], bool], timeout: float, step: float = 0.005) -> None:
    """Poll until `condition` holds; TimeoutError after `timeout` seconds."""
    for _ in range(int(timeout / step)):
        if condition():
            return
        await asyncio.sleep(step)
    raise TimeoutError("the condition did not hold in time")


async def _get(out: Any) -> Any:
    return await asyncio.to_thread(out.get, True, 120)


async def broker_alone(bootstrap: str, count: int) -> tuple[float, float]:
    """(produce events/s, produce -> consume events/s) on a topic of the same shape."""
    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [topic])
    consumer = build_consumer(bootstrap, topic, group_id=None)
    await consumer.start()
    try:
        with producing(bootstrap, topic, count, "raw") as out:
            started = await _get(out)
            seen = 0
            while seen < count:
                batch = await consumer.getmany(timeout_ms=100, max_records=5000)
                seen += sum(len(records) for records in batch.values())
            ended = time.time()
            produce_s = await _get(out)
    finally:
        await consumer.stop()
    return count / produce_s, count / (ended - started)


async def through_aggregator(settings: Settings, aggregator: Aggregator, count: int) -> float:
    """Events/s from the producer's first send until the aggregator's SQL commit of all."""
    before = aggregator.counted
    with producing(settings.kafka_bootstrap, settings.EVENTS_TOPIC, count, "bench-a") as out:
        started = await _get(out)
        await until(lambda: aggregator.counted - before >= count, 600)
        ended = time.time()
        await _get(out)
    return count / (ended - started)


async def through_group(
    settings: Settings, engine: AsyncEngine, aggregator: Aggregator, count: int, log: Path
) -> float:
    """The same with a second aggregator (`acc aggregator`, a process of its own) in the
    consumer group: the three partitions shared. Counted from SQL (the rollups' events
    of the case's tenant), which both write."""
    tenant = f"bench-g-{uuid.uuid4().hex[:6]}"
    counted = text("SELECT coalesce(sum(events), 0) FROM metric_rollups WHERE tenant = :t")
    env = child_environment(settings) | {"ACC_LOG_LEVEL": "WARNING"}
    with log.open("wb") as out:
        other = subprocess.Popen(
            [sys.executable, "-m", "cli", "aggregator"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        await until(lambda: 0 < len(aggregator.partitions()) < 3, 60, 0.05)
        await asyncio.sleep(1)  # the other member's first fetch
        total = 0.0
        with producing(settings.kafka_bootstrap, settings.EVENTS_TOPIC, count, tenant) as got:
            started = await _get(got)
            while total < count:
                await asyncio.sleep(0.02)
                async with engine.connect() as conn:
                    total = float((await conn.execute(counted, {"t": tenant})).scalar_one())
            ended = time.time()
            await _get(got)
    finally:
        stop_process(other)
    await until(lambda: len(aggregator.partitions()) == 3, 60, 0.05)
    return count / (ended - started)


# --- (b) emission to subscriber -------------------------------------------------------


async def window_latency(settings: Settings, sizes: Sizes) -> dict[str, list[float]]:
    """Emit events through the event bus at a steady rate; a subscriber of the metrics
    topic notes when each 1-second window of them arrives. Returns ms from the window's
    last event (the update) and from every event it counts."""
    tenant = f"bench-live-{uuid.uuid4().hex[:6]}"
    emitted: dict[datetime, list[datetime]] = defaultdict(list)
    arrived: dict[datetime, datetime] = {}
    subscriber = build_consumer(settings.kafka_bootstrap, settings.METRICS_TOPIC, group_id=None)
    await subscriber.start()
    await subscriber.seek_to_end()
    stop = asyncio.Event()

    async def subscribe() -> None:
        while not stop.is_set():
            batch = await subscriber.getmany(timeout_ms=50)
            now = datetime.now(UTC)
            for records in batch.values():
                for record in records:
                    window = WindowMetrics.model_validate_json(record.value or b"{}")
                    if window.tenant == tenant and window.window_start not in arrived:
                        arrived[window.window_start] = now

    bus = EventBus.from_settings(settings)
    await bus.start()
    reader = asyncio.create_task(subscribe())
    try:
        interval = 1 / sizes.latency_rate
        began = time.perf_counter()
        for i in range(int(sizes.latency_seconds * sizes.latency_rate)):
            await asyncio.sleep(max(0.0, began + i * interval - time.perf_counter()))
            event = Event(
                type="step.completed",
                source="bench",
                tenant=tenant,
                run_id=f"live-{i % 50}",
                agent="shell",
                data={"duration_ms": 5.0},
            )
            await bus.publish(event)
            emitted[event.time.replace(microsecond=0)].append(event.time)
        last = max(emitted)
        with contextlib.suppress(TimeoutError):
            await until(lambda: last in arrived, 10, 0.02)
    finally:
        stop.set()
        await reader
        await subscriber.stop()
        await bus.stop()
    seconds = sorted(s for s in emitted if s in arrived)[1:]  # the first may be partial
    ms = {"update": [], "event": []}
    for second in seconds:
        at = arrived[second]
        ms["update"].append((at - max(emitted[second])).total_seconds() * 1000)
        ms["event"] += [(at - t).total_seconds() * 1000 for t in emitted[second]]
    return ms


async def broker_latency(bootstrap: str, sizes: Sizes) -> list[float]:
    """ms from send to receipt of timestamped messages at the same rate, broker alone."""
    topic = f"bench-lat-{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [topic])
    consumer = build_consumer(bootstrap, topic, group_id=None)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks=1)
    await consumer.start()
    await producer.start()
    total = int(sizes.latency_seconds * sizes.latency_rate)
    ms: list[float] = []

    async def receive() -> None:
        while len(ms) < total:
            batch = await consumer.getmany(timeout_ms=50)
            now = time.time()
            ms.extend((now - float(r.value or b"0")) * 1000 for rs in batch.values() for r in rs)

    reader = asyncio.create_task(receive())
    try:
        began = time.perf_counter()
        for i in range(total):
            await asyncio.sleep(max(0.0, began + i / sizes.latency_rate - time.perf_counter()))
            await producer.send(topic, str(time.time()).encode(), key=str(i % 50).encode())
        async with asyncio.timeout(10):
            await reader
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await producer.stop()
        await consumer.stop()
    return ms


# --- (c), (d) data and the API --------------------------------------------------------


async def write_rows(engine: AsyncEngine, model: Any, rows: Iterator[dict[str, Any]]) -> int:
    written, chunk = 0, []
    statement = insert(table_of(model))
    for row in rows:
        chunk.append(row)
        if len(chunk) == 20_000:
            async with engine.begin() as conn:
                await conn.execute(statement, chunk)
            written, chunk = written + len(chunk), []
    if chunk:
        async with engine.begin() as conn:
            await conn.execute(statement, chunk)
    return written + len(chunk)


def rollups(tenant: str, days: int, end: datetime) -> Iterator[dict[str, Any]]:
    """1 run/s over `days`: per minute and pattern, a run-level row and one agent's steps."""
    rng = random.Random(11)
    minute = end - timedelta(days=days)
    while minute < end:
        for n, pattern in enumerate(PATTERNS[:3]):
            runs = 20
            failed = 1 if rng.random() < 0.3 else 0
            run_row = dict.fromkeys(ROLLUP_SUMS, 0.0) | {
                "events": runs * 2,
                "runs_started": runs,
                "runs_completed": runs - failed,
                "runs_failed": failed,
                "run_ms_sum": runs * rng.uniform(800, 1200),
                "quality_sum": (runs - failed) * rng.uniform(0.7, 0.9),
                "quality_count": runs - failed,
            }
            yield {"tenant": tenant, "minute": minute, "pattern": pattern, "agent": ""} | run_row
            step_row = dict.fromkeys(ROLLUP_SUMS, 0.0) | {
                "events": runs * 4,
                "steps_completed": runs * 2,
                "step_ms_sum": runs * 2 * rng.uniform(300, 500),
                "cost_usd": runs * 2 * 0.002,
                "tokens": runs * 2 * 150,
            }
            agent = AGENTS[n]
            yield {"tenant": tenant, "minute": minute, "pattern": pattern, "agent": agent} | (
                step_row
            )
        minute += timedelta(minutes=1)


def buckets(tenant: str, days: int, end: datetime) -> Iterator[dict[str, Any]]:
    minute = end - timedelta(days=days)
    while minute < end:
        for n, pattern in enumerate(PATTERNS[:3]):
            for kind, agent, spread in (("step", AGENTS[n], (30, 31)), ("run", "", (38, 39))):
                for bucket in spread:
                    yield {
                        "tenant": tenant,
                        "minute": minute,
                        "pattern": pattern,
                        "agent": agent,
                        "kind": kind,
                        "bucket": bucket,
                        "count": 20,
                    }
        minute += timedelta(minutes=1)


def runs(tenant: str, count: int, end: datetime) -> Iterator[dict[str, Any]]:
    rng = random.Random(7)
    statuses = ["completed"] * 16 + ["failed"] * 2 + ["running", "waiting"]
    for i in range(count):
        started = end - timedelta(seconds=rng.uniform(0, 30 * 86400))
        status = rng.choice(statuses)
        done = status in ("completed", "failed")
        yield {
            "tenant": tenant,
            "run_id": f"run-{i:06d}",
            "name": f"nightly-{i % 97}",
            "pattern": PATTERNS[i % len(PATTERNS)],
            "status": status,
            "started_at": started,
            "ended_at": started + timedelta(seconds=40) if done else None,
            "updated_at": started + timedelta(seconds=40),
            "cost_usd": 0.01,
            "tokens": 500,
            "quality": 0.8 if done else None,
            "steps_completed": 3,
            "steps_failed": 0,
            "waiting_reason": "approval" if status == "waiting" else None,
            "error": None,
        }


@contextlib.asynccontextmanager
async def api_server(settings: Settings, log: Path) -> AsyncIterator[str]:
    """`acc api` on a free port, with the benchmark's settings."""
    port = free_port()
    env = child_environment(settings) | {
        "ACC_API_PORT": str(port),
        "ACC_API_RATE_LIMIT": "0",
        "ACC_API_WORKERS": os.environ.get("ACC_API_WORKERS", "1"),
        "ACC_LOG_LEVEL": "WARNING",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "api"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        await asyncio.to_thread(wait_tcp, port, 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


ANALYTICS = {
    "timeseries": "/v1/analytics/timeseries?metric=completion_rate&range=30d",
    "durations": "/v1/analytics/durations?kind=step&range=30d",
    "agents": "/v1/analytics/agents?range=30d",
    "patterns": "/v1/analytics/patterns?range=30d",
    "anomalies": "/v1/analytics/anomalies?metric=runs_failed&range=30d",
    "regression": "/v1/analytics/regression?metric=step_ms_p95&range=7d",
    "correlation": "/v1/analytics/correlation?x=tokens&y=step_ms_p95&range=30d",
    "healthz (baseline)": "/healthz",
}


async def analytics_latency(url: str, token: str, queries: int) -> dict[str, list[float]]:
    """Sequential requests per endpoint, rounds interleaved: ms each."""
    ms: dict[str, list[float]] = {name: [] for name in ANALYTICS}
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": token}, timeout=60) as http:
        for path in ANALYTICS.values():  # warm up
            (await http.get(path)).raise_for_status()
        for _ in range(queries):
            for name, path in ANALYTICS.items():
                began = time.perf_counter()
                response = await http.get(path)
                ms[name].append((time.perf_counter() - began) * 1000)
                response.raise_for_status()
    return ms


@dataclass
class Load:
    requests: int
    errors: int
    seconds: float
    p50: float  # ms
    p95: float
    p99: float
    tool: str

    @classmethod
    def of(cls, ms: list[float], errors: int, seconds: float) -> Load:
        pcts = [percentile(ms, p) if ms else float("nan") for p in (50, 95, 99)]
        return cls(len(ms), errors, seconds, *pcts, "httpx")


async def load(url: str, token: str, paths: list[str], clients: int, seconds: float) -> Load:
    """`clients` concurrent clients, each sending its next request when the last answered:
    with wrk when it is installed (C; one thread drives 1,000 connections), else with
    httpx in this process (which, on two cores, saturates long before the server)."""
    if shutil.which("wrk"):
        return await asyncio.to_thread(wrk_load, url, token, paths, clients, seconds)
    return await httpx_load(url, token, paths, clients, seconds)


WRK_SCRIPT = """
local paths, token, listing = {%s}, "%s", %s
local i = 0
bad = 0  -- a global: done() reads it from each thread
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1], {["X-API-Key"] = token})
end
response = function(status, headers, body)
  if status ~= 200 or (listing and headers["x-acc-list-source"] ~= "projection") then
    bad = bad + 1
  end
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local bad_total = 0
  for _, thread in ipairs(threads) do bad_total = bad_total + thread:get("bad") end
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %%d, "errors": %%d, "us": %%d, "p50": %%d, "p95": %%d, "p99": %%d}\\n',
    summary.requests, bad_total + e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def wrk_load(url: str, token: str, paths: list[str], clients: int, seconds: float) -> Load:
    listing = "true" if "/v1/runs" in paths[0] else "false"
    quoted = ", ".join(f'"{path}"' for path in paths)
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT % (quoted, token, listing))
        script.flush()
        out = subprocess.run(
            ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "10s",
             "-s", script.name, url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    found = json.loads(out.split("WRK ", 1)[1].splitlines()[0])
    return Load(
        found["requests"],
        found["errors"],
        found["us"] / 1e6,
        found["p50"] / 1000,
        found["p95"] / 1000,
        found["p99"] / 1000,
        "wrk",
    )


async def httpx_load(url: str, token: str, paths: list[str], clients: int, seconds: float) -> Load:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    ms: list[float] = []
    errors = 0
    async with httpx.AsyncClient(
        base_url=url, headers={"X-API-Key": token}, timeout=30, limits=limits
    ) as http:

        async def client(n: int) -> None:
            nonlocal errors
            i = n
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                try:
                    response = await http.get(paths[i % len(paths)])
                    ok = response.status_code == 200 and (
                        "/v1/runs" not in paths[0]
                        or response.headers.get("X-Acc-List-Source") == "projection"
                    )
                except httpx.HTTPError:
                    ok = False
                ms.append((time.perf_counter() - began) * 1000)
                errors += not ok
                i += 1

        began = time.perf_counter()
        deadline = began + seconds
        await asyncio.gather(*(client(n) for n in range(clients)))
    return Load.of(ms, errors, time.perf_counter() - began)


LIST_PATHS = [
    f"/v1/runs?status={status}&pattern={pattern}&limit=50"
    for status in ("completed", "failed", "waiting")
    for pattern in PATTERNS
]


# --- the run ----------------------------------------------------------------------------


@dataclass
class Results:
    sql: str
    broker_produce: float
    broker_through: float
    ours: float
    group: float  # two aggregators
    latency: dict[str, list[float]]
    broker_ms: list[float]
    analytics: dict[str, list[float]]
    rollup_rows: int
    lists: Load
    health: Load


@contextlib.asynccontextmanager
async def database(tmp: Path) -> AsyncIterator[dict[str, Any]]:
    url = os.environ.get("ACC_DATABASE_URL")
    if not url:
        yield {"DATABASE_URL": f"sqlite:///{tmp / 'acc.db'}", "DATABASE_SCHEMA": None}
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    yield {"DATABASE_URL": url, "DATABASE_SCHEMA": schema}
    engine = db.create_engine(load_settings(DATABASE_URL=url, DATA_DIR=tmp / ".acc"))
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()


async def bench(sizes: Sizes, console: Console) -> Results:
    async with contextlib.AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="acc-pipeline-")))
        bootstrap = stack.enter_context(servers.tansu(tmp / "tansu.log"))
        redis_url = stack.enter_context(servers.redis_server(tmp))
        sql = await stack.enter_async_context(database(tmp))
        suffix = uuid.uuid4().hex[:8]
        settings = load_settings(
            DATA_DIR=tmp / ".acc",
            KAFKA_BOOTSTRAP=bootstrap,
            REDIS_URL=redis_url,
            TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",  # not used: lists come from SQL
            EVENTS_TOPIC=f"events-{suffix}",
            METRICS_TOPIC=f"metrics-{suffix}",
            AGGREGATOR_GROUP=f"agg-{suffix}",
            OUTBOX_MAX_EVENTS=0,
            **sql,
        )
        engine = db.create_engine(settings)
        stack.push_async_callback(engine.dispose)
        await db.migrate(engine, settings.DATABASE_SCHEMA)
        aggregator = Aggregator(settings, engine, "bench", FAST_GROUP)
        stop = asyncio.Event()
        task = asyncio.create_task(aggregator.run(stop))

        async def halt() -> None:
            stop.set()
            await task

        stack.push_async_callback(halt)
        await until(lambda: len(aggregator.partitions()) == 3, 60, 0.05)

        console.print(f"(a) throughput: {sizes.events:,} events per case")
        through_aggregator_warm = await through_aggregator(settings, aggregator, 2000)
        del through_aggregator_warm
        produce_rate, broker_rate = await broker_alone(bootstrap, sizes.events)
        ours = await through_aggregator(settings, aggregator, sizes.events)
        group = await through_group(settings, engine, aggregator, sizes.events, tmp / "agg.log")

        console.print(f"(b) latency: {sizes.latency_rate}/s for {sizes.latency_seconds} s")
        broker_ms = await broker_latency(bootstrap, sizes)
        latency = await window_latency(settings, sizes)

        console.print(f"(c) analytics: writing {sizes.rollup_days} days of rollups")
        end = datetime.now(UTC).replace(second=0, microsecond=0)
        rows = await write_rows(engine, Rollup, rollups("bench-analytics", sizes.rollup_days, end))
        rows += await write_rows(
            engine, DurationBucket, buckets("bench-analytics", sizes.rollup_days, end)
        )
        async with engine.begin() as conn:  # the hourly and daily rows the sink would keep
            await grains.rebuild(conn, "bench-analytics")
        console.print(f"(d) lists: writing {sizes.runs:,} runs to the projection")
        await write_rows(engine, RunRecord, runs("bench-runs", sizes.runs, end))
        keys = ApiKeys(engine)
        _, analyst = await keys.create("bench", "bench-analytics", ["runs:read"])
        _, lister = await keys.create("bench", "bench-runs", ["runs:read"])
        async with api_server(settings, tmp / "api.log") as url:
            analytics = await analytics_latency(url, analyst, sizes.queries)
            console.print(f"(d) {sizes.clients} clients for {sizes.load_seconds} s per case")
            await load(url, lister, LIST_PATHS, sizes.clients, 1)  # warm up
            lists = await load(url, lister, LIST_PATHS, sizes.clients, sizes.load_seconds)
            health = await load(url, lister, ["/healthz"], sizes.clients, sizes.load_seconds)
        return Results(
            "PostgreSQL" if sql["DATABASE_SCHEMA"] else "SQLite",
            produce_rate,
            broker_rate,
            ours,
            group,
            latency,
            broker_ms,
            analytics,
            rows,
            lists,
            health,
        )


def ms_row(values: list[float]) -> list[str]:
    if not values:
        return ["-", "-", "-"]
    return [f"{percentile(values, q):.1f}" for q in (50, 95, 99)]


def report(results: Results, sizes: Sizes, console: Console) -> None:
    a = Table(title=f"(a) events/s, {sizes.events:,} events, SQL: {results.sql}")
    for column in ("case", "events/s"):
        a.add_column(column, justify="right" if column != "case" else "left")
    a.add_row("producer -> broker -> aggregator -> SQL", f"{results.ours:,.0f}")
    a.add_row("the same, two aggregators (a consumer group)", f"{results.group:,.0f}")
    a.add_row("baseline: producer -> broker -> bare consumer", f"{results.broker_through:,.0f}")
    a.add_row("baseline: producer alone", f"{results.broker_produce:,.0f}")
    console.print(a)
    best = max(results.ours, results.group)
    console.print(f"goal >= 20,000 events/s: {'met' if best >= 20_000 else 'NOT met'}")

    b = Table(title=f"(b) ms to a subscriber, {sizes.latency_rate} events/s")
    for column in ("case", "n", "p50", "p95", "p99"):
        b.add_column(column, justify="right" if column != "case" else "left")
    update, every = results.latency["update"], results.latency["event"]
    b.add_row("window's last event -> window at subscriber", str(len(update)), *ms_row(update))
    b.add_row("any event -> its window at subscriber", str(len(every)), *ms_row(every))
    b.add_row("baseline: broker alone, send -> receive", str(len(results.broker_ms)),
              *ms_row(results.broker_ms))  # fmt: skip
    console.print(b)
    if update:
        p95 = percentile(update, 95)
        console.print(f"goal p95 < 250 ms (update): {'met' if p95 < 250 else 'NOT met'}")

    c = Table(
        title=f"(c) /v1/analytics over {sizes.rollup_days} days of rollups "
        f"({results.rollup_rows:,} rows), ms, {sizes.queries} requests each"
    )
    for column in ("endpoint", "p50", "p95", "p99"):
        c.add_column(column, justify="right" if column != "endpoint" else "left")
    for name, values in results.analytics.items():
        c.add_row(name, *ms_row(values))
    console.print(c)
    worst = max(percentile(v, 95) for k, v in results.analytics.items() if "healthz" not in k)
    console.print(f"goal p95 < 100 ms (worst endpoint {worst:.1f}): "
                  f"{'met' if worst < 100 else 'NOT met'}")  # fmt: skip

    d = Table(
        title=f"(d) {sizes.clients:,} concurrent clients, {sizes.runs:,} runs in the projection"
    )
    for column in ("case", "requests", "req/s", "errors", "p50", "p95", "p99"):
        d.add_column(column, justify="right" if column != "case" else "left")
    for name, result in (
        ("GET /v1/runs (filters)", results.lists),
        ("GET /healthz", results.health),
    ):
        d.add_row(
            name,
            f"{result.requests:,}",
            f"{result.requests / result.seconds:,.0f}",
            str(result.errors),
            *(f"{value:.1f}" for value in (result.p50, result.p95, result.p99)),
        )
    console.print(d)
    workers = os.environ.get("ACC_API_WORKERS", "1")
    console.print(f"load from {results.lists.tool}; API processes (ACC_API_WORKERS): {workers}")
    p95 = results.lists.p95
    console.print(f"goal p95 < 500 ms: {'met' if p95 < 500 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--events", type=int, help=f"(a) events per case ({FULL.events:,})")
    parser.add_argument("--clients", type=int, help=f"(d) concurrent clients ({FULL.clients})")
    parser.add_argument("--runs", type=int, help=f"(d) runs in the projection ({FULL.runs:,})")
    parser.add_argument("--days", type=int, help=f"(c) days of rollups ({FULL.rollup_days})")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    for name, field in (("events", "events"), ("clients", "clients"), ("runs", "runs"),
                        ("days", "rollup_days")):  # fmt: skip
        if getattr(args, name) is not None:
            setattr(sizes, field, getattr(args, name))
    console = Console()
    info = machine_info()
    console.print(f"acc metrics pipeline benchmark  {info['date']}")
    console.print(f"machine: {info['nproc']} x {info['cpu']}, loadavg {info['loadavg']}")
    results = asyncio.run(bench(sizes, console))
    report(results, sizes, console)
    console.print(f"loadavg after: {machine_info()['loadavg']}")


if __name__ == "__main__":
    main()
