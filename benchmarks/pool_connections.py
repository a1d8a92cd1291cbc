"""What one pool node holds and how fast it pushes: connections, memory per idle
connection, connect latency under a steady opening rate, and event fan-out, each beside a
same-run baseline.

Stack (loopback, nothing mocked): an embedded redis-server, a Tansu broker, a SQLite
database, and `acc pool` nodes as their own processes (ACC_AUTH=on: every hello carries a
real API key). Clients are asyncio WebSocket clients in separate processes (spawned), so
the node never shares a core's Python with them.

- hold: open N connections at R per second (each: TCP, WebSocket handshake, hello with
  the key, `registered`), hold them, read the node's RSS; baseline: a bare `websockets`
  echo server (handshake, then one echoed message), same clients, same rate.
- fanout: S subscribers of `run:bench` split across two nodes; E events published on the
  bus, each stamped with its publish time; latency = receipt - publish, per subscriber.
  Baselines, same run: the same subscribers on two bare `websockets` servers that
  broadcast what a publisher connection sends them (publish -> receipt, no bus), and the
  events read by one plain Kafka consumer (publish -> consume).

The open-files limit is raised to its hard limit first (10,000 connections need as many
descriptors in the node, and a quarter of them in each client process).

    .venv/bin/python benchmarks/pool_connections.py          # 10,000 at 500/s, 1,000 subscribers
    .venv/bin/python benchmarks/pool_connections.py --quick  # a check that it all works
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from _stack import ROOT, machine_info, percentile, servers
from rich.console import Console
from rich.table import Table

from core import db
from core.auth import ApiKeys
from core.bus import EventBus, build_consumer
from core.events import Event
from core.settings import Settings, child_environment
from tests.support.servers import free_port
from tests.support.workers import local_settings

CLIENT_PROCS = 4  # subscriber client processes of the fan-out
ECHO_SERVER = """
import asyncio, sys
from websockets.asyncio.server import broadcast, serve
SUBSCRIBERS = set()
async def echo(ws):
    try:
        async for message in ws:
            if message == "sub":  # the fan-out baseline: subscribe, then get every "pub:"
                SUBSCRIBERS.add(ws)
                await ws.send("ok")
            elif message.startswith("pub:"):
                broadcast(SUBSCRIBERS, message[4:])
            else:
                await ws.send(message)
    finally:
        SUBSCRIBERS.discard(ws)
async def main():
    async with serve(echo, "127.0.0.1", int(sys.argv[1]), max_size=None):
        await asyncio.Future()
asyncio.run(main())
"""


def raise_open_files() -> int:
    """The soft limit of open files up to the hard one; returns it (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(url)


def start_node(settings: Settings, node_id: str, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = child_environment(settings)
    env.update(ACC_POOL_PORT=str(port), ACC_POOL_NODE_ID=node_id, ACC_LOG_LEVEL="WARNING")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "pool"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    wait_http(f"http://127.0.0.1:{port}/readyz")
    return proc, port


def start_echo(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, str(port)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            import socket

            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        time.sleep(0.05)
    raise TimeoutError("echo server")


# client processes


def _client_hold(url: str, mode: str, token: str, count: int, rate: float, conn: Any) -> None:
    """Open `count` connections at `rate`/s, report latencies, hold until told to close."""
    from websockets.asyncio.client import connect

    async def one(latencies: list[float], held: list[Any]) -> None:
        started = time.perf_counter()
        ws = await connect(url, open_timeout=30, ping_interval=None, max_size=None)
        if mode == "pool":
            await ws.send(json.dumps({"type": "hello", "token": token, "role": "subscriber"}))
        else:
            await ws.send("hello")
        await ws.recv()
        latencies.append((time.perf_counter() - started) * 1000)
        held.append(ws)

    async def main() -> None:
        latencies: list[float] = []
        held: list[Any] = []
        pending = []
        start = time.perf_counter()
        for i in range(count):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(one(latencies, held)))
        results = await asyncio.gather(*pending, return_exceptions=True)
        errors = sum(isinstance(r, BaseException) for r in results)
        conn.send({"latencies": latencies, "errors": errors})
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # "close"
        await asyncio.gather(*(ws.close() for ws in held), return_exceptions=True)

    asyncio.run(main())


def hold(url: str, mode: str, token: str, total: int, rate: float, pid: int, procs: int) -> dict:
    ctx = mp.get_context("spawn")
    pipes, workers = [], []
    before = rss_mb(pid)
    for _ in range(procs):
        parent, child = ctx.Pipe()
        share = total // procs
        worker = ctx.Process(
            target=_client_hold, args=(url, mode, token, share, rate / procs, child)
        )
        worker.start()
        pipes.append(parent)
        workers.append(worker)
    reports = [pipe.recv() for pipe in pipes]
    time.sleep(1)
    after = rss_mb(pid)
    for pipe in pipes:
        pipe.send("close")
    for worker in workers:
        worker.join(60)
    latencies = [x for r in reports for x in r["latencies"]]
    held = len(latencies)
    return {
        "held": held,
        "errors": sum(r["errors"] for r in reports),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "rss_before": before,
        "rss_after": after,
        "kb_per_conn": (after - before) * 1024 / max(held, 1),
    }


def _client_subscribe(
    urls: list[str], token: str, channel: str, count: int, events: int, conn: Any
) -> None:
    """`count` subscribers (`channel` "echo": of the bare broadcast servers)."""
    from websockets.asyncio.client import connect

    async def main() -> None:
        latencies: list[float] = []
        sockets = []
        for i in range(count):
            ws = await connect(urls[i % len(urls)], ping_interval=None, max_size=None)
            if channel == "echo":
                await ws.send("sub")
                await ws.recv()
            else:
                hello = {"type": "hello", "token": token, "role": "subscriber"}
                await ws.send(json.dumps(hello))
                await ws.recv()
                await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
                await ws.recv()
            sockets.append(ws)

        everything = asyncio.Event()

        async def read(ws: Any) -> None:
            async for raw in ws:
                message = json.loads(raw)
                if channel == "echo":  # what the publisher sent: {"t": ...}
                    message = {"type": "event", "event": {"data": message}}
                if message.get("type") == "event":
                    sent = message["event"]["data"]["t"]
                    latencies.append((time.time() - sent) * 1000)
                    if len(latencies) == count * events:
                        everything.set()

        readers = [asyncio.create_task(read(ws)) for ws in sockets]
        conn.send("ready")
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # published
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everything.wait(), 60)
        for reader in readers:
            reader.cancel()
        conn.send(latencies)
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    asyncio.run(main())


async def publish_events(settings: Settings, channel_run: str, count: int, gap: float) -> None:
    bus = EventBus.from_settings(settings)
    await bus.start()
    try:
        for n in range(count):
            event = Event(
                type="agent.message",
                source="bench",
                run_id=channel_run,
                tenant=settings.TENANT,
                data={"n": n, "t": time.time()},
            )
            await bus.publish(event)
            await asyncio.sleep(gap)
    finally:
        await bus.stop()


async def kafka_baseline(settings: Settings, count: int, gap: float) -> list[float]:
    run = f"base-{uuid.uuid4().hex[:6]}"
    consumer = build_consumer(settings.kafka_bootstrap, settings.EVENTS_TOPIC, group_id=None)
    await consumer.start()
    await consumer.seek_to_end()
    latencies: list[float] = []

    async def read() -> None:
        while len(latencies) < count:
            batch = await consumer.getmany(timeout_ms=100)
            for records in batch.values():
                for record in records:
                    event = Event.decode(record.value or b"")
                    if event.run_id == run:
                        latencies.append((time.time() - event.data["t"]) * 1000)

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.5)
    await publish_events(settings, run, count, gap)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(reader, 10)
    await consumer.stop()
    return latencies


async def publish_bare(urls: list[str], count: int, gap: float) -> None:
    """The baseline's publisher: each event to every bare server, which broadcasts it."""
    from websockets.asyncio.client import connect

    publishers = [await connect(url, ping_interval=None) for url in urls]
    try:
        for n in range(count):
            payload = "pub:" + json.dumps({"n": n, "t": time.time()})
            await asyncio.gather(*(ws.send(payload) for ws in publishers))
            await asyncio.sleep(gap)
    finally:
        await asyncio.gather(*(ws.close() for ws in publishers), return_exceptions=True)


def subscribers_receive(
    urls: list[str], token: str, channel: str, subscribers: int, events: int, publish: Any
) -> list[float]:
    """Latencies of `events` events to `subscribers` held by client processes."""
    ctx = mp.get_context("spawn")
    pipes, workers = [], []
    for _ in range(CLIENT_PROCS):
        parent, child = ctx.Pipe()
        worker = ctx.Process(
            target=_client_subscribe,
            args=(urls, token, channel, subscribers // CLIENT_PROCS, events, child),
        )
        worker.start()
        pipes.append(parent)
        workers.append(worker)
    for pipe in pipes:
        pipe.recv()
    publish()
    for pipe in pipes:
        pipe.send("published")  # each waits for every event (up to 60 s), then reports
    latencies = [x for pipe in pipes for x in pipe.recv()]
    for worker in workers:
        worker.join(30)
    return latencies


def fanout(
    settings: Settings,
    urls: list[str],
    token: str,
    subscribers: int,
    events: int,
    bare_urls: list[str],
) -> dict:
    run = f"bench-{uuid.uuid4().hex[:6]}"
    latencies = subscribers_receive(
        urls,
        token,
        f"run:{run}",
        subscribers,
        events,
        lambda: asyncio.run(publish_events(settings, run, events, 0.05)),
    )
    bare = subscribers_receive(
        bare_urls,
        token,
        "echo",
        subscribers,
        events,
        lambda: asyncio.run(publish_bare(bare_urls, events, 0.05)),
    )
    base = asyncio.run(kafka_baseline(settings, events, 0.05))
    return {
        "bare_received": len(bare),
        "bare_p50": percentile(bare, 50),
        "bare_p95": percentile(bare, 95),
        "received": len(latencies),
        "expected": (subscribers // CLIENT_PROCS) * CLIENT_PROCS * events,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "base_p50": percentile(base, 50),
        "base_p95": percentile(base, 95),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=500, help="connections opened per second")
    parser.add_argument("--client-procs", type=int, default=4)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short check: 200 connections at 100/s, 40 subscribers, 5 events",
    )
    args = parser.parse_args()
    if args.quick:
        args.connections, args.rate, args.subscribers, args.events = 200, 100, 40, 5
    console = Console()
    open_files = raise_open_files()
    if open_files < args.connections + 1000:
        console.print(
            f"[yellow]open files limited to {open_files}: fewer than "
            f"{args.connections} connections may be held (raise `ulimit -Hn`)[/]"
        )
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        with servers.tansu() as bootstrap, servers.redis_server(tmp) as redis_url:
            settings = local_settings(
                tmp,
                bootstrap,
                redis_url,
                TEMPORAL_ADDRESS="127.0.0.1:9",  # the node's client is lazy: never used here
                POOL_MAX_CONNECTIONS=args.connections + 100,
                REDIS_PREFIX=f"bench-{uuid.uuid4().hex[:6]}:",
            )

            async def key() -> str:
                engine = db.create_engine(settings)
                await db.migrate(engine, None)
                _, token = await ApiKeys(engine).create("bench", settings.TENANT, ["runs:read"])
                await engine.dispose()
                return token

            token = asyncio.run(key())
            node, port = start_node(settings, "bench-a", tmp / "a.log")
            other, other_port = start_node(settings, "bench-b", tmp / "b.log")
            echo_port, other_echo_port = free_port(), free_port()
            echo = start_echo(echo_port)
            other_echo = start_echo(other_echo_port)
            try:
                url = f"ws://127.0.0.1:{port}"
                n, rate, k = args.connections, args.rate, args.client_procs
                pool_hold = hold(url, "pool", token, n, rate, node.pid, k)
                echo_hold = hold(f"ws://127.0.0.1:{echo_port}", "echo", token, n, rate, echo.pid, k)
                urls = [url, f"ws://127.0.0.1:{other_port}"]
                bare_urls = [f"ws://127.0.0.1:{p}" for p in (echo_port, other_echo_port)]
                fan = fanout(settings, urls, token, args.subscribers, args.events, bare_urls)
            finally:
                for proc in (node, other, echo, other_echo):
                    proc.terminate()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(30)
    info = machine_info()
    console.print(f"machine: {info}")
    table = Table(title=f"Connections: {n} opened at {rate:g}/s by {k} client processes")
    for column in ("server", "held", "errors", "connect p50 ms", "p95 ms", "RSS MB", "KB/conn"):
        table.add_column(column)
    for name, r in (("acc pool node", pool_hold), ("bare websockets echo", echo_hold)):
        table.add_row(
            name,
            str(r["held"]),
            str(r["errors"]),
            f"{r['p50']:.1f}",
            f"{r['p95']:.1f}",
            f"{r['rss_before']:.0f} -> {r['rss_after']:.0f}",
            f"{r['kb_per_conn']:.1f}",
        )
    console.print(table)
    fan_table = Table(
        title=f"Fan-out: {args.events} events of one run to {args.subscribers} subscribers "
        "on 2 nodes"
    )
    for column in ("path", "received", "p50 ms", "p95 ms"):
        fan_table.add_column(column)
    fan_table.add_row(
        "bus -> pool -> subscribers",
        f"{fan['received']}/{fan['expected']}",
        f"{fan['p50']:.1f}",
        f"{fan['p95']:.1f}",
    )
    fan_table.add_row(
        "bare websockets broadcast, 2 servers (baseline)",
        f"{fan['bare_received']}/{fan['expected']}",
        f"{fan['bare_p50']:.1f}",
        f"{fan['bare_p95']:.1f}",
    )
    fan_table.add_row(
        "bus -> one Kafka consumer (baseline)",
        "",
        f"{fan['base_p50']:.1f}",
        f"{fan['base_p95']:.1f}",
    )
    console.print(fan_table)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
