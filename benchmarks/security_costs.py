"""What security costs a one-step run: payload encryption, authentication and the sandbox,
each alone and all together, against the same run without any of them.

Stack (loopback, nothing mocked): a Temporal dev server, a Tansu broker, an embedded
redis-server, a SQLite database, and per case acc's real API app (`create_app`, served
in-process through httpx's ASGI transport, lifespan run) with acc's real workers on a
task queue of its own. A run is `POST /v1/runs?wait=30` of a one-step pipeline whose
step is `echo hello` (a real subprocess), timed from the request to its answer. The
cases take turns (the order rotates every round) so machine noise hits them alike.

- baseline: ACC_AUTH=off, no payload keys, ACC_SANDBOX=off
- codec: AES-256-GCM payload encryption on every client and worker
- auth: ACC_AUTH=on, an API key on every request (verified, scope checked, rate limited
  in Redis)
- sandbox: the step in bubblewrap as nobody
- all: the three together (the default of `acc up`)

Goal: codec and auth add under 5% each at p50; the sandbox's cost per step is reported.

    .venv/bin/python benchmarks/security_costs.py --runs 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from _stack import machine_info, percentile, servers
from rich.console import Console
from rich.table import Table

from api.main import create_app
from core import temporal
from core.codec import new_key_line
from core.settings import Settings
from tests.support.workers import local_settings, running_workers

SPEC = {
    "name": "bench-security",
    "steps": [{"name": "hello", "agent": {"backend": "shell", "command": ["echo", "hello"]}}],
}
CASES: dict[str, dict[str, Any]] = {
    "baseline": {"AUTH": "off", "SANDBOX": "off"},
    "codec": {"AUTH": "off", "SANDBOX": "off", "PAYLOAD_KEYS": new_key_line("bench")},
    "auth": {"AUTH": "on", "SANDBOX": "off"},
    "sandbox": {"AUTH": "off", "SANDBOX": "on"},
    "all": {"AUTH": "on", "SANDBOX": "on", "PAYLOAD_KEYS": new_key_line("bench")},
}


async def once(http: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    resp = await http.post("/v1/runs", json=SPEC, params={"wait": 30})
    elapsed = (time.perf_counter() - started) * 1000
    view = resp.json()
    if resp.status_code not in (200, 202) or view.get("status") != "completed":
        raise RuntimeError(f"run did not complete: {resp.status_code} {view}")
    return elapsed


@contextlib.asynccontextmanager
async def case(settings: Settings, stack: contextlib.AsyncExitStack) -> Any:
    client = await temporal.connect(settings)
    await stack.enter_async_context(running_workers(client, settings))
    app = create_app(settings)
    await stack.enter_async_context(app.router.lifespan_context(app))
    headers = {}
    if settings.AUTH == "on":
        _, token = await app.state.authenticator.keys.create("bench", "default", ["admin"])
        headers["X-API-Key"] = token
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://localhost", headers=headers, timeout=60
    ) as http:
        yield http


async def bench(runs: int, warmup: int) -> dict[str, list[float]]:
    async with contextlib.AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="acc-security-")))
        bootstrap = stack.enter_context(servers.tansu(tmp / "tansu.log"))
        redis_url = stack.enter_context(servers.redis_server(tmp))
        env = await servers.temporal_dev_server()
        stack.push_async_callback(env.shutdown)
        address = env.client.service_client.config.target_host
        clients: dict[str, httpx.AsyncClient] = {}
        for name, overrides in CASES.items():
            settings = local_settings(
                tmp,
                bootstrap,
                redis_url,
                TEMPORAL_ADDRESS=address,
                ORCHESTRATION_QUEUE=f"bench-{uuid.uuid4().hex[:8]}",
                API_RATE_LIMIT=0 if overrides["AUTH"] == "off" else 1_000_000,
                **overrides,
            )
            clients[name] = await stack.enter_async_context(case(settings, stack))
        samples: dict[str, list[float]] = {name: [] for name in CASES}
        names = list(CASES)
        for i in range(warmup + runs):
            turn = names[i % len(names) :] + names[: i % len(names)]
            for name in turn:
                ms = await once(clients[name])
                if i >= warmup:
                    samples[name].append(ms)
        return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="measured runs per case (100)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up runs per case (5)")
    args = parser.parse_args()
    console = Console()
    info = machine_info()
    console.print(f"acc security costs benchmark  {info['date']}")
    console.print(f"machine: {info['nproc']} x {info['cpu']}, loadavg {info['loadavg']}")
    samples = asyncio.run(bench(args.runs, args.warmup))
    base50, base95 = percentile(samples["baseline"], 50), percentile(samples["baseline"], 95)
    table = Table(title=f"One-step run through the API, request to answer, ms ({args.runs} runs)")
    for column in ("case", "p50", "p95", "mean", "p50 added", "p95 added"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for name, values in samples.items():
        p50, p95 = percentile(values, 50), percentile(values, 95)
        table.add_row(
            name,
            f"{p50:.1f}",
            f"{p95:.1f}",
            f"{sum(values) / len(values):.1f}",
            "" if name == "baseline" else f"{p50 - base50:+.1f} ms ({p50 / base50 - 1:+.1%})",
            "" if name == "baseline" else f"{p95 - base95:+.1f} ms ({p95 / base95 - 1:+.1%})",
        )
    console.print(table)
    for name in ("codec", "auth"):
        added = percentile(samples[name], 50) / base50 - 1
        console.print(f"{name}: goal under 5% added at p50: {'met' if added < 0.05 else 'NOT met'}")


if __name__ == "__main__":
    main()
