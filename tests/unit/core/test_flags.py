"""Feature flags through OpenFeature over a flagd-format file: per-tenant percentage
rollouts (stable for each tenant, and a tenant that has a flag keeps it as the rollout
grows), explicit tenants, changes picked up without a restart, a bad file refused while
the last good flags stay."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from core.flags import ROADMAP_FLAGS, Flags
from core.settings import Settings

pytestmark = pytest.mark.unit

TENANTS = [f"tenant-{i}" for i in range(2000)]


def rollout(percent: int, only: list[str] | None = None) -> dict[str, Any]:
    fractional: dict[str, Any] = {
        "fractional": [{"var": "targetingKey"}, ["on", percent], ["off", 100 - percent]]
    }
    targeting = fractional
    if only is not None:  # these tenants always, the rest by percentage
        targeting = {"if": [{"in": [{"var": "tenant"}, only]}, "on", fractional]}
    return {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
        "targeting": targeting,
    }


def write(path: Path, flags: dict[str, Any]) -> None:
    path.write_text(json.dumps({"flags": flags}))
    stat = path.stat()  # a new mtime even within the file system's timestamp granularity
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_without_a_file_every_flag_is_off() -> None:
    flags = Flags(Settings())
    assert flags.names() == sorted(ROADMAP_FLAGS)
    assert not any(d.value for d in flags.evaluate("acme").values())
    assert flags.provider.rollout("analytics-v2") == 0.0


def test_percentage_rollout_per_tenant_goes_0_25_100_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    write(path, {"analytics-v2": rollout(0)})
    flags = Flags(Settings(FLAGS_FILE=path))
    assert not any(flags.enabled("analytics-v2", t) for t in TENANTS)

    write(path, {"analytics-v2": rollout(25)})
    quarter = {t for t in TENANTS if flags.enabled("analytics-v2", t)}
    assert 0.22 < len(quarter) / len(TENANTS) < 0.28
    assert flags.provider.rollout("analytics-v2") == 0.25
    # stable: the same tenants every time, in any process (a hash of the tenant)
    other = Flags(Settings(FLAGS_FILE=path))
    assert quarter == {t for t in TENANTS if other.enabled("analytics-v2", t)}

    write(path, {"analytics-v2": rollout(50)})
    half = {t for t in TENANTS if flags.enabled("analytics-v2", t)}
    assert quarter < half  # nobody loses the flag as the rollout grows

    write(path, {"analytics-v2": rollout(100)})
    assert all(flags.enabled("analytics-v2", t) for t in TENANTS)
    assert flags.provider.reloads == 4


def test_named_tenants_get_a_flag_before_the_percentage(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(
        "flags:\n  ai-review-beta: " + json.dumps(rollout(0, only=["acme", "globex"])) + "\n"
    )
    flags = Flags(Settings(FLAGS_FILE=path))
    assert flags.enabled("ai-review-beta", "acme") and flags.enabled("ai-review-beta", "globex")
    assert not flags.enabled("ai-review-beta", "initech")
    details = flags.evaluate("acme")["ai-review-beta"]
    assert details.variant == "on" and details.reason == "TARGETING_MATCH"
    assert flags.provider.rollout("ai-review-beta") is None  # not a plain percentage


def test_a_bad_file_keeps_the_last_good_flags(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    write(path, {"k8s-autoscale": rollout(100)})
    flags = Flags(Settings(FLAGS_FILE=path))
    assert flags.enabled("k8s-autoscale", "acme")
    path.write_text("{not json")
    assert flags.enabled("k8s-autoscale", "acme")
    assert flags.provider.error is not None and "last good flags stay" in flags.provider.error
    write(path, {"k8s-autoscale": rollout(0)})
    assert not flags.enabled("k8s-autoscale", "acme")
    assert flags.provider.error is None


def test_evaluations_are_counted_by_flag_and_value(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    write(path, {"ws-pooling-enabled": rollout(100)})
    flags = Flags(Settings(FLAGS_FILE=path))
    for tenant in ("a", "b", "c"):
        flags.enabled("ws-pooling-enabled", tenant)
    flags.enabled("analytics-v2", "a")
    assert flags.counter.counts[("ws-pooling-enabled", "true")] == 3
    assert flags.counter.counts[("analytics-v2", "false")] == 1
