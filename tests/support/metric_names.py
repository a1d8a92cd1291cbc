"""The Prometheus series the Grafana dashboard (deploy/grafana/acc.json) and the rollback
triggers (the chart's AnalysisTemplate) read, and the series a process exports, from its
exposition text, so tests can hold one against the other."""

from __future__ import annotations

import json
import re

from tests.support.chart import ROOT, one, render_overlay

DASHBOARD = ROOT / "deploy" / "grafana" / "acc.json"
# Series of other exporters the queries may read: ingress-nginx and the kubelet's cAdvisor.
EXTERNAL = ("nginx_ingress_controller_", "container_")
NAME = re.compile(r"\b(?:acc|temporal|process|python|nginx_ingress_controller|container)_\w+")
MATCHERS = re.compile(r"\{[^{}]*\}")
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


def names_in(promql: str) -> set[str]:
    """Series names a query reads (label matchers and templating removed)."""
    while (stripped := MATCHERS.sub("", promql)) != promql:
        promql = stripped
    return set(NAME.findall(promql))


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def rollback_queries() -> list[str]:
    template = one(render_overlay("staging"), "AnalysisTemplate", "acc-rollback-triggers")
    return [m["provider"]["prometheus"]["query"] for m in template["spec"]["metrics"]]


def referenced() -> set[str]:
    return {n for q in dashboard_queries() + rollback_queries() for n in names_in(q)}


def exported(text: str) -> set[str]:
    """Series names in exposition text, those of families without samples yet included."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names |= {name + s for s in SUFFIXES.get(kind, ("",))}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names
