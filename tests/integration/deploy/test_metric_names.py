"""Every acc series the Grafana dashboard and the rollback triggers read is one some acc
process exports: the API's `/metrics` (scraped), a pool node's, an aggregator's and a
worker's registries (the Temporal SDK's own series are checked against a worker's scrape
in tests/integration/test_worker_metrics.py); the rest belong to known other exporters."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

import workers.metrics  # noqa: F401  (registers the worker's series, as `acc worker` does)
from analytics.aggregator import Aggregator
from analytics.metrics import AggregatorCollector
from core import db
from core.settings import Settings
from pool.node import Metrics
from tests.conftest import api_client
from tests.support.metric_names import (
    EXTERNAL,
    dashboard_queries,
    exported,
    names_in,
    referenced,
    rollback_queries,
)

pytestmark = pytest.mark.integration


async def test_every_series_the_dashboard_and_rollback_triggers_read_is_exported(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    async with api_client(settings) as http:
        api = (await http.get("/metrics")).text
    engine = db.create_engine(settings)
    try:
        aggregator = CollectorRegistry()
        aggregator.register(AggregatorCollector(Aggregator(settings, engine)))
    finally:
        await engine.dispose()
    by_process = {
        "api": exported(api),
        "pool": exported(generate_latest(Metrics().registry).decode()),
        "aggregator": exported(generate_latest(aggregator).decode()),
        "worker": exported(generate_latest(REGISTRY).decode()),
    }
    ours = set().union(*by_process.values())
    wanted = referenced()
    assert not {n for n in wanted if not n.startswith(("temporal_", *EXTERNAL))} - ours
    # Each process's panels read something of it, and every rollback trigger has a series.
    for process, names in by_process.items():
        assert names & wanted, process
    assert all(names_in(q) for q in rollback_queries())
    assert len(dashboard_queries()) >= 30


def test_names_are_read_from_queries_without_their_labels() -> None:
    query = (
        'sum(rate(acc_api_requests_total{status=~"5..",service="{{args.service}}"}[5m]))'
        " / clamp_min(sum by (app_kubernetes_io_component) (process_resident_memory_bytes), 1)"
    )
    assert names_in(query) == {"acc_api_requests_total", "process_resident_memory_bytes"}
    text = '# TYPE a_seconds histogram\n# TYPE b_total counter\nc{x="1"} 2\n'
    assert exported(text) == {
        "a_seconds_bucket",
        "a_seconds_sum",
        "a_seconds_count",
        "b_total",
        "c",
    }
