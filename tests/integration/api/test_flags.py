"""`/v1/flags` and `/metrics` over a real API: flags evaluated for the caller's tenant, a
rollout changed in the file seen on the next call (no restart), a broken file reported."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from core.settings import Settings
from tests.conftest import api_client

pytestmark = pytest.mark.integration


def _write(path: Path, percent: int) -> None:
    flag = {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
        "targeting": {
            "if": [
                {"in": [{"var": "tenant"}, ["acme"]]},
                "on",
                {"fractional": [{"var": "targetingKey"}, ["on", percent], ["off", 100 - percent]]},
            ]
        },
    }
    path.write_text(json.dumps({"flags": {"analytics-v2": flag}}))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


async def test_flags_per_tenant_change_without_a_restart(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    path = tmp_path / "flags.json"
    _write(path, 0)
    settings = make_settings(FLAGS_FILE=path)
    async with (
        api_client(settings, ("runs:read",), tenant="acme") as acme,
        api_client(settings, ("runs:read",), tenant="initech") as initech,
    ):
        mine = (await acme.get("/v1/flags")).json()
        flags = {f["name"]: f for f in mine["flags"]}
        assert mine["tenant"] == "acme" and mine["source"] == str(path)
        assert set(flags) == {
            "ws-pooling-enabled",
            "analytics-v2",
            "ai-review-beta",
            "k8s-autoscale",
        }
        assert flags["analytics-v2"]["enabled"] is True  # named tenant
        assert flags["analytics-v2"]["reason"] == "TARGETING_MATCH"
        assert flags["ws-pooling-enabled"]["enabled"] is False  # not defined: off
        theirs = {f["name"]: f for f in (await initech.get("/v1/flags")).json()["flags"]}
        assert theirs["analytics-v2"]["enabled"] is False

        _write(path, 100)  # the rollout reaches everyone: no restart
        theirs = {f["name"]: f for f in (await initech.get("/v1/flags")).json()["flags"]}
        assert theirs["analytics-v2"]["enabled"] is True

        metrics = (await acme.get("/metrics")).text
        assert 'acc_feature_flag_evaluations{flag="analytics-v2",value="true"}' in metrics
        assert "acc_feature_flags_file_ok 1.0" in metrics

        path.write_text("flags: [")
        broken = (await acme.get("/v1/flags")).json()
        assert "last good flags stay" in broken["error"]
        assert {f["name"]: f for f in broken["flags"]}["analytics-v2"]["enabled"] is True
        assert "acc_feature_flags_file_ok 0.0" in (await acme.get("/metrics")).text
        assert (await acme.get("/v1/flags", headers={"X-API-Key": "nope"})).status_code == 401
