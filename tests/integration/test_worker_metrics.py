"""The worker's /metrics after a real run on the local Temporal server: runs, steps, their
durations, cost and tokens from acc, and the Temporal SDK's own series through the
runtime's Prometheus exporter, all on the health port as `acc worker` serves them."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from core import temporal
from core.contracts import RunInput, RunState
from core.health import HealthServer
from core.settings import Settings
from core.specs import parse_spec
from tests.conftest import running_workers
from tests.support import metric_names
from tests.support.openai_compatible_server import OpenAICompatibleServer
from tests.support.servers import free_port
from workflows.pipeline import PipelineWorkflow

pytestmark = pytest.mark.integration


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def before(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_run_shows_in_the_workers_metrics_with_the_sdk_series(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(SDK_METRICS_PORT=free_port(), OPENAI_API_KEY="stand-in")
    runtime = temporal.metrics_runtime(settings)
    assert runtime is not None
    client = await Client.connect(
        temporal_env.client.service_client.config.target_host,
        namespace=temporal_env.client.namespace,
        data_converter=temporal_env.client.data_converter,
        runtime=runtime,
    )
    counted = {
        "runs": before("acc_runs_total", pattern="pipeline", status="completed"),
        "failed_runs": before("acc_runs_total", pattern="pipeline", status="failed"),
        "failed_steps": before("acc_steps_total", backend="shell", outcome="failed"),
        "shell": before("acc_steps_total", backend="shell", outcome="completed"),
        "llm": before("acc_steps_total", backend="llm", outcome="completed"),
        "tokens": before("acc_tokens_total", backend="llm", direction="output"),
        "cost": before("acc_cost_usd_total", backend="llm"),
        "run_seconds": before("acc_run_duration_seconds_count", pattern="pipeline"),
    }
    with OpenAICompatibleServer() as llm:  # a stand-in provider: tokens and a priced model
        spec = parse_spec(
            {
                "name": "metered",
                "input": "hello",
                "steps": [
                    {"name": "say", "agent": {"backend": "shell", "command": "echo one two"}},
                    {
                        "name": "ask",
                        "agent": {
                            "backend": "llm",
                            "model": "gpt-4o",
                            "prompt": "repeat",
                            "base_url": f"{llm.url}/v1",
                            "max_tokens": 3,
                        },
                    },
                ],
            }
        )
        run_id = f"metrics-{uuid.uuid4().hex[:10]}"
        async with (
            running_workers(client, settings),
            HealthServer(
                "127.0.0.1",
                0,
                lambda: _ok(),
                also_metrics=f"http://127.0.0.1:{settings.SDK_METRICS_PORT}/metrics",
            ) as health,
        ):
            state: RunState = await client.execute_workflow(
                PipelineWorkflow.run,
                RunInput(run_id=run_id, tenant="t1", spec=spec, agents_queue=settings.agents_queue),
                id=run_id,
                task_queue=settings.ORCHESTRATION_QUEUE,
            )
            failing = parse_spec(
                {
                    "name": "broken",
                    "steps": [
                        {
                            "name": "no",
                            "agent": {"backend": "shell", "command": "false"},
                            "retry": {"max_attempts": 1},
                        }
                    ],
                }
            )
            with pytest.raises(WorkflowFailureError):
                await client.execute_workflow(
                    PipelineWorkflow.run,
                    RunInput(
                        run_id=f"{run_id}-f",
                        tenant="t1",
                        spec=failing,
                        agents_queue=settings.agents_queue,
                    ),
                    id=f"{run_id}-f",
                    task_queue=settings.ORCHESTRATION_QUEUE,
                )
            async with httpx.AsyncClient() as http:
                answer = await http.get(f"http://127.0.0.1:{health.port}/metrics")
    assert state.status == "completed" and state.usage.cost_usd > 0
    assert answer.status_code == 200
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }
    got = {
        "runs": value(samples, "acc_runs_total", pattern="pipeline", status="completed"),
        "failed_runs": value(samples, "acc_runs_total", pattern="pipeline", status="failed"),
        "failed_steps": value(samples, "acc_steps_total", backend="shell", outcome="failed"),
        "shell": value(samples, "acc_steps_total", backend="shell", outcome="completed"),
        "llm": value(samples, "acc_steps_total", backend="llm", outcome="completed"),
        "tokens": value(samples, "acc_tokens_total", backend="llm", direction="output"),
        "cost": value(samples, "acc_cost_usd_total", backend="llm"),
        "run_seconds": value(samples, "acc_run_duration_seconds_count", pattern="pipeline"),
    }
    delta = {k: got[k] - counted[k] for k in got}
    assert delta["runs"] == 1 and delta["run_seconds"] == 2 and delta["failed_runs"] == 1
    # Attempts are counted: on a loaded machine an attempt can time out and run again.
    assert delta["shell"] >= 1 and delta["llm"] >= 1 and delta["failed_steps"] >= 1
    assert delta["tokens"] == delta["llm"] * state.usage.output_tokens > 0
    assert delta["cost"] == pytest.approx(delta["llm"] * state.usage.cost_usd)
    names = {name for name, _ in samples}
    # Every worker and Temporal SDK series the Grafana dashboard reads is here, by the
    # names Prometheus stores (the SDK's counters have no _total suffix).
    raw = metric_names.exported(answer.text)
    wanted = {n for n in metric_names.referenced() if n.startswith(("temporal_", "acc_run"))}
    assert {n for n in wanted if n.startswith("temporal_")}, "the dashboard reads the SDK"
    assert wanted - raw == set()
    # The Temporal SDK's series, from the runtime's exporter, on the same endpoint.
    assert any(n.startswith("temporal_workflow_completed") for n in names), sorted(names)
    assert any(n.startswith("temporal_activity_execution_latency") for n in names)


async def _ok() -> str | None:
    return None
