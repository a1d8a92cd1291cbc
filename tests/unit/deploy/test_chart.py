"""The Helm chart, rendered offline for every overlay: each object valid for Kubernetes
1.29-1.33 (strict: unknown fields fail), custom resources valid against their projects'
published schemas, and the properties that matter asserted on the objects themselves."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from api.main import create_app
from core.flags import Flags
from core.health import HealthServer
from core.settings import Settings
from tests.support.chart import (
    CHART,
    OVERLAYS,
    REQUIRED,
    ROOT,
    Obj,
    by_kind,
    container,
    one,
    overlay_values,
    render,
    render_overlay,
    validate_custom_resources,
    workloads,
)
from workflows.steps import HEARTBEAT_TIMEOUT

pytestmark = pytest.mark.unit

ARGOCD = ROOT / "deploy" / "argocd"
KUBERNETES = ("1.29", "1.30", "1.31", "1.32", "1.33")
CUSTOM_GROUPS = ("keda.sh", "argoproj.io", "cert-manager.io", "monitoring.coreos.com")
COMPONENTS = {"api", "pool", "aggregator", "worker-orchestration", "worker-agents"}


def _custom(obj: Obj) -> bool:
    return obj["apiVersion"].split("/")[0] in CUSTOM_GROUPS


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES)
def test_every_object_is_valid_kubernetes(overlay: str, version: str) -> None:
    objects = render_overlay(overlay)
    core = [o for o in objects if not _custom(o)]
    assert len(core) >= 10
    for obj in core:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{overlay}: {obj['kind']} {obj['metadata']['name']} on {version}: {exc}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_match_their_published_schemas(overlay: str) -> None:
    objects = render_overlay(overlay)
    custom = [o for o in objects if _custom(o)]
    results = validate_custom_resources(custom)
    assert [r for r in results if r["error"]] == []
    assert len(results) == len(custom)


def test_the_overlays_render_what_each_environment_needs() -> None:
    kinds = {o: {obj["kind"] for obj in render_overlay(o)} for o in OVERLAYS}
    assert {"ScaledObject", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds["default"]
    assert {"NetworkPolicy", "ServiceMonitor", "Ingress"} <= kinds["default"]
    # dev: one of each, nothing that needs KEDA, Prometheus Operator or Argo installed
    assert not {"ScaledObject", "ServiceMonitor", "Rollout", "PodDisruptionBudget"} & kinds["dev"]
    for overlay in ("staging", "prod"):
        assert {"Rollout", "AnalysisTemplate", "ScaledObject"} <= kinds[overlay]
        assert "Secret" not in kinds[overlay]  # they name a Secret managed elsewhere
    assert "Certificate" in kinds["prod"]
    assert "TriggerAuthentication" in kinds["prod"]  # KEDA reaches Temporal over mTLS
    for overlay in ("default", "dev", "staging"):
        assert set(workloads(render_overlay(overlay))) == COMPONENTS
    # prod keeps the previous build's workers for the runs pinned to it
    draining = {"worker-orchestration-0-0-9", "worker-agents-0-0-9"}
    assert set(workloads(render_overlay("prod"))) == COMPONENTS | draining


def _real_api_paths() -> set[str]:
    """The paths the API serves, from its own OpenAPI document."""
    return set(create_app(Settings()).openapi()["paths"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_point_at_real_endpoints(overlay: str) -> None:
    objects = render_overlay(overlay)
    api_paths = _real_api_paths()
    assert {"/healthz", "/readyz", "/metrics"} <= api_paths
    for component, workload in workloads(objects).items():
        spec = container(workload)
        ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
        probes = {
            k: spec[k]["httpGet"] for k in ("startupProbe", "livenessProbe", "readinessProbe")
        }
        assert probes["livenessProbe"]["path"] == "/healthz"
        assert probes["readinessProbe"]["path"] == "/readyz"
        for probe in probes.values():
            assert probe["port"] in ports, (component, probe)
            if component == "api":
                assert probe["path"] in api_paths
                assert ports[probe["port"]] == int(_env(objects, "ACC_API_PORT"))
            elif component.startswith("worker") or component == "aggregator":
                # the health server every process without an API runs on ACC_HEALTH_PORT
                assert probe["path"] in HealthServer.PATHS
                assert _container_env(spec)["ACC_HEALTH_PORT"] == str(ports[probe["port"]])


def _env(objects: list[Obj], name: str) -> str:
    value: str = one(objects, "ConfigMap", "acc-config")["data"][name]
    return value


def _container_env(spec: Obj) -> dict[str, str]:
    return {e["name"]: e["value"] for e in spec.get("env", []) if "value" in e}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_runs_unprivileged_on_a_read_only_root(overlay: str) -> None:
    for component, workload in workloads(render_overlay(overlay)).items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        assert pod["automountServiceAccountToken"] is False
        ctx = container(workload)["securityContext"]
        assert ctx["runAsNonRoot"] is True, component
        assert ctx["readOnlyRootFilesystem"] is True, component
        assert ctx["allowPrivilegeEscalation"] is False, component
        assert ctx["capabilities"]["drop"] == ["ALL"], component
        assert "add" not in ctx["capabilities"]
        # a read-only root: what the processes write goes to emptyDirs
        mounts = {m["mountPath"] for m in container(workload)["volumeMounts"]}
        assert {"/tmp", "/data", "/home/acc"} <= mounts
        assert "limits" in container(workload)["resources"]
        assert "requests" in container(workload)["resources"]


@pytest.mark.parametrize("overlay", ["default", "staging", "prod"])
def test_api_and_pool_scale_on_cpu_and_memory_within_bounds(overlay: str) -> None:
    objects = render_overlay(overlay)
    hpas = by_kind(objects, "HorizontalPodAutoscaler")
    assert set(hpas) == {"acc-api", "acc-pool"}
    expected_kind = "Rollout" if overlay != "default" else "Deployment"
    for name, hpa in hpas.items():
        spec = hpa["spec"]
        assert spec["scaleTargetRef"] == {
            "apiVersion": "argoproj.io/v1alpha1" if expected_kind == "Rollout" else "apps/v1",
            "kind": expected_kind,
            "name": name,
        }
        assert 2 <= spec["minReplicas"] <= spec["maxReplicas"] <= 50
        assert {m["resource"]["name"] for m in spec["metrics"]} == {"cpu", "memory"}
        # the HPA owns the replica count
        assert "replicas" not in one(objects, expected_kind, name)["spec"]
    default = by_kind(render_overlay("default"), "HorizontalPodAutoscaler")
    assert [(h["spec"]["minReplicas"], h["spec"]["maxReplicas"]) for h in default.values()] == [
        (2, 50),
        (2, 50),
    ]


@pytest.mark.parametrize("overlay", ["default", "staging", "prod"])
def test_keda_scales_each_worker_on_its_own_temporal_queue(overlay: str) -> None:
    objects = render_overlay(overlay)
    config = one(objects, "ConfigMap", "acc-config")["data"]
    scaled = by_kind(objects, "ScaledObject")
    queues = {
        "acc-worker-orchestration": (config["ACC_ORCHESTRATION_QUEUE"], "workflow"),
        "acc-worker-agents": (config["ACC_AGENTS_QUEUE"], "activity"),
    }
    assert set(scaled) == set(queues)
    assert config["ACC_ORCHESTRATION_QUEUE"] != config["ACC_AGENTS_QUEUE"]
    for name, obj in scaled.items():
        spec = obj["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        assert one(objects, "Deployment", name)
        assert "replicas" not in one(objects, "Deployment", name)["spec"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        [trigger] = spec["triggers"]
        assert trigger["type"] == "temporal"
        meta = trigger["metadata"]
        queue, kind = queues[name]
        assert meta["taskQueue"] == queue
        assert meta["queueTypes"] == kind
        assert meta["endpoint"] == config["ACC_TEMPORAL_ADDRESS"]
        assert meta["namespace"] == config["ACC_TEMPORAL_NAMESPACE"]
        assert int(meta["targetQueueSize"]) >= 1
        # the worker the ScaledObject scales polls that queue
        args = container(one(objects, "Deployment", name))["args"]
        assert args == ["worker", "--queue", name.removeprefix("acc-worker-")]
        if overlay != "default":  # Worker Versioning on: KEDA counts this build's backlog
            assert (
                meta["workerDeploymentBuildId"]
                == container(one(objects, "Deployment", name))["image"].rsplit(":", 1)[1]
            )


def _ports(rule: Obj) -> set[Any]:
    return {p["port"] for p in rule.get("ports", [])}


def test_network_policies_allow_exactly_the_needed_flows() -> None:
    objects = render_overlay("default")
    policies = by_kind(objects, "NetworkPolicy")
    deny = policies.pop("acc-default-deny")
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"]  # nothing comes in
    assert [_ports(r) for r in deny["spec"]["egress"]] == [{53}]  # DNS only
    assert set(policies) == {f"acc-{c}" for c in COMPONENTS}
    from_ingress = set()
    for name, policy in policies.items():
        for rule in policy["spec"]["ingress"]:
            for peer in rule["from"]:
                ns = peer.get("namespaceSelector", {}).get("matchLabels", {})
                if ns.get("kubernetes.io/metadata.name") == "ingress-nginx":
                    from_ingress.add(name)
                assert "ipBlock" not in peer  # nobody from outside the cluster directly
    assert from_ingress == {"acc-api", "acc-pool"}  # only they take outside traffic
    egress_ports = {
        name: set().union(*(_ports(r) for r in p["spec"]["egress"])) for name, p in policies.items()
    }
    stateful = {7233, 9092, 9093, 6379, 5432}
    for worker in ("acc-worker-orchestration", "acc-aggregator"):
        assert egress_ports[worker] <= stateful, worker
    assert egress_ports["acc-worker-orchestration"] == stateful
    # agent steps reach LLM providers over HTTPS, on public addresses only
    assert egress_ports["acc-worker-agents"] == stateful | {443}
    [internet] = [r for r in policies["acc-worker-agents"]["spec"]["egress"] if _ports(r) == {443}]
    block = internet["to"][0]["ipBlock"]
    assert block["cidr"] == "0.0.0.0/0"
    assert ipaddress.ip_network("10.0.0.0/8") in map(ipaddress.ip_network, block["except"])
    # workers accept nothing but Prometheus on the health port
    for worker in ("acc-worker-orchestration", "acc-worker-agents", "acc-aggregator"):
        rules = policies[worker]["spec"]["ingress"]
        assert [_ports(r) for r in rules] == [{"health"}]
        labels = rules[0]["from"][0]["namespaceSelector"]["matchLabels"]
        assert labels == {"kubernetes.io/metadata.name": "monitoring"}


def test_alert_notifications_egress_is_opt_in_and_public_only_by_default() -> None:
    def alert_rules(values: dict[str, Any]) -> dict[str, list[Obj]]:
        policies = by_kind(render({**REQUIRED, **values}), "NetworkPolicy")
        return {
            name: [r for r in p["spec"]["egress"] if _ports(r) & {587}]
            for name, p in policies.items()
            if name != "acc-default-deny"
        }

    assert all(rules == [] for rules in alert_rules({}).values())
    on = alert_rules({"networkPolicy": {"egress": {"alerts": {"enabled": True}}}})
    assert {name for name, rules in on.items() if rules} == {"acc-api", "acc-aggregator"}
    [rule] = on["acc-aggregator"]
    assert _ports(rule) == {443, 587}
    block = rule["to"][0]["ipBlock"]
    assert block["cidr"] == "0.0.0.0/0" and "10.0.0.0/8" in block["except"]
    relay = {"enabled": True, "cidrs": ["10.1.2.3/32"], "ports": [587]}
    [rule] = alert_rules({"networkPolicy": {"egress": {"alerts": relay}}})["acc-api"]
    assert rule["to"] == [{"ipBlock": {"cidr": "10.1.2.3/32"}}] and _ports(rule) == {587}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_shutdown_grace_covers_draining(overlay: str) -> None:
    objects = render_overlay(overlay)
    for component, workload in workloads(objects).items():
        pod = workload["spec"]["template"]["spec"]
        grace = pod["terminationGracePeriodSeconds"]
        env = _container_env(container(workload))
        if component.startswith("worker"):
            drain = float(env["ACC_WORKER_SHUTDOWN_GRACE_SECONDS"])
            # activities get their drain time, and at least one heartbeat window, before
            # the kubelet's SIGKILL
            assert grace >= drain + HEARTBEAT_TIMEOUT.total_seconds(), component
        hook = container(workload).get("lifecycle", {}).get("preStop")
        if component == "pool":
            wait = int(hook["exec"]["command"][1])
            drain = float(env["ACC_POOL_DRAIN_SECONDS"])
            assert wait > 0 and grace >= wait + drain  # the drain still has its time


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_are_real_acc_settings(overlay: str) -> None:
    objects = render_overlay(overlay)
    known = {f"ACC_{name}" for name in Settings.model_fields}
    names = set(one(objects, "ConfigMap", "acc-config")["data"])
    for secret in by_kind(objects, "Secret").values():
        names |= set(secret.get("stringData", {}))
    for workload in workloads(objects).values():
        names |= {e["name"] for e in container(workload).get("env", [])}
    acc_names = {n for n in names if n.startswith("ACC_")}
    assert acc_names - known == set()
    # each process built from the ConfigMap loads as valid settings
    config = one(objects, "ConfigMap", "acc-config")["data"]
    Settings(**{k.removeprefix("ACC_"): v for k, v in config.items() if k in known})


def test_an_existing_secret_replaces_the_charts_own() -> None:
    objects = render({"existingSecret": "acc-managed"})
    assert by_kind(objects, "Secret") == {}
    for workload in workloads(objects).values():
        refs = [s["secretRef"]["name"] for s in container(workload)["envFrom"] if "secretRef" in s]
        assert refs == ["acc-managed"]
    own = render({**REQUIRED, "secrets": {"PAYLOAD_KEYS": "k1:abc"}})
    data = one(own, "Secret", "acc-secrets")["stringData"]
    assert data["ACC_DATABASE_URL"] == REQUIRED["database"]["url"]
    assert data["ACC_PAYLOAD_KEYS"] == "k1:abc"
    # a settings change rolls the pods
    before = workloads(own)["api"]["spec"]["template"]["metadata"]["annotations"]
    after = workloads(render({**REQUIRED, "config": {"LOG_LEVEL": "DEBUG"}}))["api"]
    assert after["spec"]["template"]["metadata"]["annotations"] != before


def test_the_ingress_terminates_tls_and_routes_websockets_to_the_pool() -> None:
    objects = render_overlay("default")
    ingress = one(objects, "Ingress", "acc")
    notes = ingress["metadata"]["annotations"]
    assert notes["cert-manager.io/cluster-issuer"] == "letsencrypt"
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert ingress["spec"]["tls"] == [{"hosts": ["acc.example.com"], "secretName": "acc-tls"}]
    paths = {
        p["path"]: p["backend"]["service"]["name"]
        for p in ingress["spec"]["rules"][0]["http"]["paths"]
    }
    assert paths == {"/ws": "acc-pool", "/": "acc-api"}
    # the API answers the names it is reached by (trusted hosts): its Service, the
    # ingress host, and its pod IP (kubelet probes and Prometheus)
    hosts = _container_env(container(workloads(objects)["api"]))["ACC_ALLOWED_HOSTS"]
    assert set(hosts.split(",")) == {"acc-api", "acc-api.acc.svc", "$(POD_IP)", "acc.example.com"}
    cert = one(render_overlay("prod"), "Certificate", "acc")
    assert cert["spec"]["secretName"] == "acc-tls"
    assert "cert-manager.io/cluster-issuer" not in one(render_overlay("prod"), "Ingress", "acc")[
        "metadata"
    ].get("annotations", {})


def test_prometheus_scrapes_every_process() -> None:
    objects = render_overlay("default")
    monitor = one(objects, "ServiceMonitor", "acc")
    service = one(objects, "Service", "acc-metrics")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == ports
    assert {e["path"] for e in monitor["spec"]["endpoints"]} == {"/metrics"}
    for workload in workloads(objects).values():
        assert {p["name"] for p in container(workload)["ports"]} & ports


def test_blue_green_rollouts_roll_back_on_the_roadmap_triggers() -> None:
    objects = render_overlay("staging")
    for component in ("api", "pool"):
        rollout = one(objects, "Rollout", f"acc-{component}")
        blue_green = rollout["spec"]["strategy"]["blueGreen"]
        assert blue_green["activeService"] == f"acc-{component}"
        assert blue_green["previewService"] == f"acc-{component}-preview"
        assert one(objects, "Service", f"acc-{component}-preview")
        for phase in ("prePromotionAnalysis", "postPromotionAnalysis"):
            [template] = blue_green[phase]["templates"]
            assert template["templateName"] == "acc-rollback-triggers"
    analysis = one(objects, "AnalysisTemplate", "acc-rollback-triggers")
    metrics = {m["name"]: m for m in analysis["spec"]["metrics"]}
    expected = {
        "websocket-connection-success": ">= 0.95",
        "error-rate": "<= 0.01",
        "quality-score": ">= 0.65",
        "memory-per-session": "<= 157286400",
    }
    assert set(metrics) == set(expected)
    for name, condition in expected.items():
        assert metrics[name]["successCondition"].endswith(f"result[0] {condition}")
        assert metrics[name]["provider"]["prometheus"]["query"]
        assert metrics[name]["failureLimit"] == 1


BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    ({}, "database"),  # neither a database URL nor an existing Secret
    ({**REQUIRED, "api": {"autoscaling": {"minReplicas": "two"}}}, "minReplicas"),
    ({**REQUIRED, "api": {"port": 70000}}, "/api/port"),
    ({**REQUIRED, "database": {"url": "mysql://db/acc"}}, "/database/url"),
    ({**REQUIRED, "temporal": {"address": "temporal"}}, "/temporal/address"),
    ({**REQUIRED, "kafka": {"securityProtocol": "SASL_SSL"}}, "username"),
    ({**REQUIRED, "kafka": {"securityProtocol": "TLS"}}, "securityProtocol"),
    ({**REQUIRED, "workers": {"agents": {"sandbox": "maybe"}}}, "sandbox"),
    ({**REQUIRED, "workers": {"orchestration": {"queue": "has space"}}}, "queue"),
    ({**REQUIRED, "config": {"ACC_LOG_LEVEL": "DEBUG"}}, "ACC_LOG_LEVEL"),
    ({**REQUIRED, "securityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
    ({**REQUIRED, "podSecurityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
    ({**REQUIRED, "api": {"pdb": {"minAvailable": "half"}}}, "pdb"),
    ({**REQUIRED, "ingress": {"host": "Not A Host"}}, "/ingress/host"),
    ({**REQUIRED, "replicas": 3}, "replicas"),  # a key the chart does not have
    ({**REQUIRED, "featureFlags": {"rollout": {"analytics-v2": 125}}}, "analytics-v2"),
]


@pytest.mark.parametrize(("values", "named"), BAD_VALUES)
def test_values_schema_rejects_bad_values_naming_them(values: dict[str, Any], named: str) -> None:
    with pytest.raises(helm.HelmValuesError) as caught:
        render(values)
    assert named in str(caught.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {**REQUIRED, "api": {"autoscaling": {"minReplicas": 60, "maxReplicas": 50}}},
            "api.autoscaling: minReplicas (60) is above maxReplicas (50)",
        ),
        (
            {**REQUIRED, "workers": {"agents": {"keda": {"minReplicas": 9, "maxReplicas": 3}}}},
            "workers.agents.keda: minReplicas (9) is above maxReplicas (3)",
        ),
    ],
)
def test_values_compared_with_each_other_fail_at_render(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmRenderError, match=message.replace("(", r"\(").replace(")", r"\)")):
        render(values)


@pytest.mark.parametrize("overlay", ["dev", "staging", "prod"])
def test_overlays_pass_the_schema(overlay: str) -> None:
    helm.Chart.load(CHART).validate_schema(overlay_values(overlay))


def test_production_reaches_every_service_over_tls() -> None:
    objects = render_overlay("prod")
    config = one(objects, "ConfigMap", "acc-config")["data"]
    assert config["ACC_TEMPORAL_TLS"] == "true"
    assert config["ACC_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["ACC_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert "ACC_KAFKA_SASL_PASSWORD" not in config  # a secret, from the existing Secret
    mounted = {}
    for workload in workloads(objects).values():
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
        for mount in container(workload)["volumeMounts"]:
            if "secret" in volumes[mount["name"]]:
                assert mount["readOnly"] is True
                mounted[mount["mountPath"]] = volumes[mount["name"]]["secret"]["secretName"]
    assert mounted == {
        "/etc/acc/tls/temporal": "acc-temporal-client-tls",
        "/etc/acc/tls/kafka": "acc-kafka-ca",
        "/etc/acc/tls/redis": "acc-redis-ca",
        "/etc/acc/tls/database": "acc-database-ca",
    }
    assert config["ACC_REDIS_TLS_CA"] == "/etc/acc/tls/redis/ca.crt"
    assert (config["ACC_DATABASE_TLS"], config["ACC_DATABASE_TLS_CA"]) == (
        "true",
        "/etc/acc/tls/database/ca.crt",
    )
    assert "ACC_REDIS_URL" not in config and "ACC_DATABASE_URL" not in config  # secrets
    for name in ("ACC_TEMPORAL_TLS_CA", "ACC_TEMPORAL_TLS_CERT", "ACC_TEMPORAL_TLS_KEY"):
        assert config[name].startswith("/etc/acc/tls/temporal/")
    assert config["ACC_KAFKA_TLS_CA"] == "/etc/acc/tls/kafka/ca.crt"
    # every file setting the processes read is inside a mounted Secret
    files = [v for k, v in config.items() if k.endswith(("_CA", "_CERT", "_KEY"))]
    assert all(any(f.startswith(path + "/") for path in mounted) for f in files)


def test_an_argo_cd_application_per_environment_deploys_its_overlay() -> None:
    apps = [yaml.safe_load(p.read_text()) for p in sorted(ARGOCD.glob("acc-*.yaml"))]
    assert [a["metadata"]["name"] for a in apps] == ["acc-dev", "acc-prod", "acc-staging"]
    assert [r["error"] for r in validate_custom_resources(apps)] == [None, None, None]
    for app in apps:
        env = app["metadata"]["name"].removeprefix("acc-")
        source = app["spec"]["source"]
        assert (ROOT / source["path"]) == CHART
        assert source["helm"]["valueFiles"] == [f"values-{env}.yaml"]
        assert (CHART / f"values-{env}.yaml").is_file()
        assert app["spec"]["destination"]["namespace"] == f"acc-{env}"
        # replicas belong to the autoscalers, not to Git
        ignored = {d["kind"] for d in app["spec"]["ignoreDifferences"]}
        assert {"Deployment", "Rollout"} <= ignored
    automated = {a["metadata"]["name"]: "automated" in a["spec"]["syncPolicy"] for a in apps}
    assert automated == {"acc-dev": True, "acc-staging": True, "acc-prod": False}


def test_worker_versioning_keeps_old_builds_until_their_runs_finish() -> None:
    objects = render_overlay("prod")
    pods = workloads(objects)
    tag = container(pods["api"])["image"].rsplit(":", 1)[1]
    for queue in ("orchestration", "agents"):
        current = _container_env(container(pods[f"worker-{queue}"]))
        assert current["ACC_WORKER_DEPLOYMENT"] == "acc"
        assert current["ACC_WORKER_BUILD_ID"] == tag
        old = pods[f"worker-{queue}-0-0-9"]
        assert container(old)["image"].endswith(":0.0.9")
        assert container(old)["args"] == ["worker", "--queue", queue]
        assert _container_env(container(old))["ACC_WORKER_BUILD_ID"] == "0.0.9"
        assert old["spec"]["replicas"] == 1  # not scaled by KEDA: it only drains
        # its network policy is the current workers' one
        policy = one(objects, "NetworkPolicy", f"acc-worker-{queue}")
        [expr] = policy["spec"]["podSelector"]["matchExpressions"]
        assert expr["values"] == [f"worker-{queue}", f"worker-{queue}-0-0-9"]
    assert "acc-worker-orchestration-0-0-9" not in by_kind(objects, "ScaledObject")
    # after the upgrade a hook makes this release's build current for new runs
    job = one(objects, "Job", "acc-set-current-version")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    command = container_of_job(job)["command"]
    assert command[2:6] == ["temporal", "worker", "deployment", "set-current-version"]
    assert {"--deployment-name=acc", f"--build-id={tag}", "--yes", "--tls"} <= set(command)
    assert "--tls-cert-path=/etc/acc/tls/temporal/tls.crt" in command
    assert by_kind(render_overlay("default"), "Job") == {}


def container_of_job(job: Obj) -> Obj:
    [spec] = job["spec"]["template"]["spec"]["containers"]
    return spec


def test_feature_flags_reach_every_pod_and_roll_out_per_tenant(tmp_path: Path) -> None:
    objects = render(
        {
            **REQUIRED,
            "featureFlags": {
                "rollout": {"analytics-v2": 25, "k8s-autoscale": 100},
                "tenants": {"analytics-v2": ["acme"]},
            },
        }
    )
    config = one(objects, "ConfigMap", "acc-config")["data"]
    flags_file = Path(config["ACC_FLAGS_FILE"])
    for workload in workloads(objects).values():
        mounts = {m["mountPath"]: m for m in container(workload)["volumeMounts"]}
        assert mounts[str(flags_file.parent)]["readOnly"] is True
    # the rendered file, read by the flags acc evaluates
    local = tmp_path / flags_file.name
    local.write_text(one(objects, "ConfigMap", "acc-flags")["data"]["flags.json"])
    flags = Flags(Settings(FLAGS_FILE=local))
    assert flags.provider.error is None
    assert flags.provider.rollout("k8s-autoscale") == 1.0
    assert flags.enabled("analytics-v2", "acme")  # named first
    on = [t for t in (f"t{i}" for i in range(1000)) if flags.enabled("analytics-v2", t)]
    assert 0.2 < len(on) / 1000 < 0.3
    # the flags ConfigMap is not in the pods' checksum: a rollout change restarts nothing
    before = workloads(render_overlay("default"))["api"]["spec"]["template"]["metadata"]
    assert (
        workloads(objects)["api"]["spec"]["template"]["metadata"]["annotations"]
        == (before["annotations"])
    )
