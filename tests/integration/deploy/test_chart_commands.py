"""The commands and environment the Helm chart gives its containers (workers, API, pool,
aggregator), run on this machine against the test stack (Temporal, the broker, Redis, SQL):
what a kubelet would start.

Only what a cluster provides differently is substituted: the emptyDir at /data becomes a
temporary directory, the pod binds loopback on free ports (several tests share the machine),
and the pod IP is a made-up address that only appears in Host headers. The chart's values
point at the test stack's services exactly as an operator's point at theirs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from tests.support.chart import CHART, container, pod_environment, render, workloads
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

ACC = Path(sys.executable).parent / "acc"  # the console script the image's ENTRYPOINT runs
POD_IP = "10.42.0.17"  # never dialled: the API must accept it as a Host header


def _values(
    temporal_env: WorkflowEnvironment, kafka: str, redis: str, database: dict[str, str | None]
) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    values: dict[str, Any] = yaml.safe_load((CHART / "values-dev.yaml").read_text())
    values["temporal"] = {"address": temporal_env.client.service_client.config.target_host}
    values["kafka"] = {
        "bootstrap": kafka,
        "eventsTopic": f"events-{suffix}",
        "signalsTopic": f"signals-{suffix}",
    }
    values["redis"] = {"url": redis, "prefix": f"test-{suffix}:"}
    values["database"] = {
        "url": database["DATABASE_URL"],
        "schema": database["DATABASE_SCHEMA"] or "",
    }
    values["workers"]["orchestration"]["queue"] = f"orch-{suffix}"
    values["workers"]["agents"]["queue"] = f"agents-{suffix}"
    return values


def _container_env(objects: list[dict[str, Any]], component: str, data: Path) -> dict[str, str]:
    env = pod_environment(objects, component, POD_IP)
    data.mkdir(parents=True, exist_ok=True)
    port = str(free_port())
    env.update(ACC_DATA_DIR=str(data), ACC_API_HOST="127.0.0.1", ACC_HEALTH_HOST="127.0.0.1")
    if "ACC_HEALTH_PORT" in env:  # workers, aggregator
        env["ACC_HEALTH_PORT"] = port
    if component.startswith("worker-"):  # the Temporal SDK's exporter, on the pod's loopback
        env["ACC_SDK_METRICS_PORT"] = str(free_port())
    elif "ACC_POOL_PORT" in env:
        env.update(ACC_POOL_PORT=port, ACC_POOL_HOST="127.0.0.1")
    else:
        env["ACC_API_PORT"] = port
    # the image's own environment: PATH and HOME, nothing else of this machine's
    return {"PATH": os.environ["PATH"], "HOME": str(data), "LANG": "C.UTF-8", **env}


@contextmanager
def _run(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(ACC), *argv],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=env["ACC_DATA_DIR"],
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} never ready:\n{log.read_text()}")


def _port(env: dict[str, str]) -> str:
    """The port a container's probes use: its health port, the pool's, or the API's."""
    if "ACC_HEALTH_PORT" in env:
        return env["ACC_HEALTH_PORT"]
    return env["ACC_POOL_PORT"] if "ACC_POOL_NODE_ID" in env else env["ACC_API_PORT"]


@pytest.mark.timeout(900)  # five processes start at once: slow on a loaded machine
async def test_the_charts_worker_and_api_commands_serve_a_run(
    tmp_path: Path,
    temporal_env: WorkflowEnvironment,
    kafka_bootstrap: str,
    redis_url: str,
    database: dict[str, str | None],
) -> None:
    objects = render(_values(temporal_env, kafka_bootstrap, redis_url, database))
    await asyncio.to_thread(_serve_a_run, objects, tmp_path)


def _serve_a_run(objects: list[dict[str, Any]], tmp_path: Path) -> None:
    pods = workloads(objects)
    # every process of the chart: the workers, the API, the pool and the aggregator
    envs = {c: _container_env(objects, c, tmp_path / c) for c in pods}
    with ExitStack() as stack:
        procs = {}
        for component, env in envs.items():
            log = tmp_path / f"{component}.log"
            procs[component] = stack.enter_context(
                _run(container(pods[component])["args"], env, log)
            )
        for component, env in envs.items():
            _wait_ready(
                f"http://127.0.0.1:{_port(env)}/readyz",
                procs[component],
                tmp_path / f"{component}.log",
            )
        # The probes the kubelet sends, and Prometheus's scrape, by the pod's IP as Host
        for component, env in envs.items():
            spec = container(pods[component])
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                path = spec[probe]["httpGet"]["path"]
                answer = httpx.get(
                    f"http://127.0.0.1:{_port(env)}{path}",
                    headers={"Host": f"{POD_IP}:{_port(env)}"},
                )
                assert answer.status_code == 200, (component, path, answer.text)
            scraped = httpx.get(f"http://127.0.0.1:{_port(env)}/metrics", headers={"Host": POD_IP})
            assert scraped.status_code == 200 and "# TYPE" in scraped.text, component
            if component.startswith("worker-"):  # with the Temporal SDK's series
                assert "temporal_worker_task_slots_available" in scraped.text, component
            if component == "aggregator":
                assert "acc_aggregator_events_total" in scraped.text
        # The Docker HEALTHCHECK of each container
        for component, env in envs.items():
            check = subprocess.run(
                [sys.executable, "-m", "core.health"], env=env, capture_output=True, timeout=120
            )
            assert check.returncode == 0, (component, check.stderr)
        ready = subprocess.run(
            [str(ACC), "health", "--ready"],
            env=envs["worker-orchestration"],
            capture_output=True,
            timeout=240,
        )
        assert ready.returncode == 0, ready.stderr

        # An operator's first key, the way DEPLOY.md says, in the API pod's environment
        made = subprocess.run(
            [str(ACC), "keys", "bootstrap", "ops"],
            env=envs["api"],
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip().splitlines()[-1]
        api = f"http://127.0.0.1:{envs['api']['ACC_API_PORT']}"
        spec = {
            "name": "chart",
            "steps": [
                {"name": "greet", "agent": {"backend": "shell", "command": "echo from the chart"}},
                {"name": "shout", "agent": {"backend": "shell", "command": "tr a-z A-Z"}},
            ],
        }
        with httpx.Client(base_url=api, headers={"X-API-Key": token}) as http:
            accepted = http.post("/v1/runs", json=spec)
            assert accepted.status_code == 202, accepted.text
            run_id = accepted.json()["id"]
            run = http.get(f"/v1/runs/{run_id}", params={"wait": 60}, timeout=90).json()
        assert run["status"] == "completed", run
        assert run["output"] == "FROM THE CHART\n"
        # both queues served it: the workflow on one worker, the steps on the other
        logs = {c: (tmp_path / f"{c}.log").read_text() for c in _workers(pods)}
        assert "polling orch-" in logs["worker-orchestration"]
        assert "polling agents-" in logs["worker-agents"]

        # SIGTERM (what the kubelet sends): readiness drops, the worker drains and exits 0
        worker = procs["worker-agents"]
        health = f"http://127.0.0.1:{envs['worker-agents']['ACC_HEALTH_PORT']}"
        worker.send_signal(signal.SIGTERM)
        grace = float(envs["worker-agents"]["ACC_WORKER_SHUTDOWN_GRACE_SECONDS"])
        assert worker.wait(grace + 15) == 0, logs["worker-agents"]
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{health}/healthz")


def _workers(pods: dict[str, Any]) -> list[str]:
    return [c for c in pods if c.startswith("worker-")]
