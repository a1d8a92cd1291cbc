"""The Helm chart (deploy/helm/acc) rendered offline by the Helm v4 SDK, and what a kubelet
would hand each container: its command and environment, resolved from the ConfigMap, the
Secret and the pod's own fields, so tests can run them on this machine."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "acc"
OVERLAYS = ("default", "dev", "staging", "prod")
RELEASE = "acc"
NAMESPACE = "acc"
# What the default values lack on purpose (a database URL or an existing Secret).
REQUIRED = {"database": {"url": "postgresql://acc:secret@postgres.example:5432/acc"}}
CRD_VALIDATOR = ROOT / "tests" / "support" / "crd-schemas"

Obj = dict[str, Any]


@cache
def _chart() -> helm.Chart:
    return helm.Chart.load(CHART)


def overlay_values(overlay: str) -> dict[str, Any]:
    if overlay == "default":
        return dict(REQUIRED)
    values = yaml.safe_load((CHART / f"values-{overlay}.yaml").read_text())
    return values if values.get("existingSecret") else {**REQUIRED, **values}


def render(values: dict[str, Any] | None = None) -> list[Obj]:
    """Every object the chart renders with `values` (raises HelmValuesError on bad ones)."""
    manifests = _chart().render(values or {}, name=RELEASE, namespace=NAMESPACE)
    objects: list[Obj] = []
    for text in manifests.values():
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


@cache
def _render_overlay(overlay: str) -> str:
    return json.dumps(render(overlay_values(overlay)))


def render_overlay(overlay: str) -> list[Obj]:
    """The objects of one overlay (rendered once per session; a fresh copy each call)."""
    objects: list[Obj] = json.loads(_render_overlay(overlay))
    return objects


def by_kind(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def one(objects: list[Obj], kind: str, name: str) -> Obj:
    return by_kind(objects, kind)[name]


def workloads(objects: list[Obj]) -> dict[str, Obj]:
    """Deployments and Argo Rollouts by component."""
    found = {}
    for o in objects:
        if o["kind"] in {"Deployment", "Rollout"}:
            found[o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]] = o
    return found


def container(workload: Obj) -> Obj:
    containers: list[Obj] = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def validate_custom_resources(objects: list[Obj]) -> list[dict[str, Any]]:
    """Each object checked by its project's published schema (tests/support/crd-schemas)."""
    if not (CRD_VALIDATOR / "node_modules").is_dir():
        raise RuntimeError(
            "the custom resource schemas are not installed: run "
            "`npm ci --prefix tests/support/crd-schemas` (scripts/test.sh does)"
        )
    done = subprocess.run(
        ["node", str(CRD_VALIDATOR / "validate.mjs")],
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def pod_environment(objects: list[Obj], component: str, pod_ip: str) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom (ConfigMap, Secret)
    first, then env in order, with $(VAR) references to earlier variables expanded and the
    pod's fields (name, IP) filled in."""
    spec = container(workloads(objects)[component])
    env: dict[str, str] = {}
    for source in spec.get("envFrom", []):
        if "configMapRef" in source:
            env.update(one(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
        else:
            secret = one(objects, "Secret", source["secretRef"]["name"])
            env.update(secret.get("stringData", {}))
    fields = {"metadata.name": f"{RELEASE}-{component}-0", "status.podIP": pod_ip}
    for var in spec.get("env", []):
        if "valueFrom" in var:
            env[var["name"]] = fields[var["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            env[var["name"]] = _REF.sub(lambda m: env.get(m.group(1), m.group(0)), var["value"])
    return env
