"""Prometheus metrics of an aggregator (`acc aggregator`), read from it at scrape time and
served with the process's default registry on the health port's `/metrics`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from analytics.aggregator import Aggregator


class AggregatorCollector(Collector):
    def __init__(self, aggregator: Aggregator) -> None:
        self._aggregator = aggregator

    def collect(self) -> Iterator[Metric]:
        a = self._aggregator
        events = CounterMetricFamily(
            "acc_aggregator_events",
            "Events read from the events topic: counted, skipped (redelivered, counted "
            "already) or unreadable",
            labels=["outcome"],
        )
        events.add_metric(["counted"], a.counted)
        events.add_metric(["skipped"], a.skipped)
        events.add_metric(["unreadable"], a.unreadable)
        yield events
        yield CounterMetricFamily(
            "acc_aggregator_windows_published",
            "1-second metric windows published to the metrics topic",
            value=a.published_windows,
        )
        yield CounterMetricFamily(
            "acc_aggregator_alerts_opened", "Alerts this aggregator opened", value=a.alerts_opened
        )
        lag = GaugeMetricFamily(
            "acc_aggregator_lag",
            "Events on the topic not yet read, by partition held (after the last batch)",
            labels=["partition"],
        )
        for partition, behind in sorted(a.lag.items()):
            lag.add_metric([str(partition)], behind)
        yield lag
