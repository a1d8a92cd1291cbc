"""The `review` step on real Temporal, workers, broker and SQL: the supervisor's quality
gate reviews what the worker wrote, sends the findings (with their fixes) back to the
worker, and passes only once they are gone (examples/review-gate.yaml); a review step in a
pipeline reports bad files as skipped without failing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from tests.conftest import api_client, running_workers

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "review-gate.yaml"


@pytest.fixture
async def stack(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    settings = make_settings(TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host)
    async with running_workers(temporal_env.client, settings), api_client(settings) as client:
        yield client, settings


async def finished(http: httpx.AsyncClient, spec: dict[str, Any]) -> dict[str, Any]:
    accepted = await http.post("/v1/runs", json=spec)
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["id"]
    for _ in range(4):
        view: dict[str, Any] = (await http.get(f"/v1/runs/{run_id}", params={"wait": 60})).json()
        if view["status"] not in ("running", "waiting"):
            return view
    raise AssertionError(f"run {run_id} did not finish: {view}")


async def test_the_review_gate_sends_findings_back_until_the_worker_fixed_them(
    stack: tuple[httpx.AsyncClient, Settings],
) -> None:
    http, settings = stack
    view = await finished(http, yaml.safe_load(EXAMPLE.read_text()))
    assert view["status"] == "completed", view
    assert view["quality"] == 1.0
    loader = (settings.data_dir / "runs" / view["id"] / "loader.py").read_text()
    assert "yaml.safe_load(text)" in loader and "hashlib.sha256(" in loader
    assert "yaml.load(" not in loader and "md5" not in loader

    timeline = (await http.get(f"/v1/runs/{view['id']}/timeline")).json()
    text = json.dumps(timeline)
    assert "iteration-2" in text and "iteration-3" not in text
    first = json.loads(
        next(
            s["result"]["output"]["text"]
            for s in view["steps"]
            if s["name"] == "review" and s.get("group") == "iteration-1"
        )
    )
    assert first["score"] == 0.0 and first["blocking"] == 2
    assert "python.security.yaml-unsafe-load, CWE-502" in first["feedback"]
    assert "Fix: replace `yaml.load(text)` with `yaml.safe_load(text)`." in first["feedback"]


async def test_a_review_step_skips_bad_files_and_still_answers(
    stack: tuple[httpx.AsyncClient, Settings],
) -> None:
    http, _ = stack
    writer = (
        "import os, pathlib\n"
        "pathlib.Path('blob.bin').write_bytes(bytes(range(256)))\n"
        "os.symlink('/etc/passwd', 'passwd.txt')\n"
        "pathlib.Path('ok.py').write_text('def f(x):\\n    return x\\n')\n"
    )
    view = await finished(
        http,
        {
            "name": "review-bad-files",
            "steps": [
                {
                    "name": "write",
                    "agent": {"backend": "shell", "command": ["python3", "-c", writer]},
                },
                {"name": "review", "agent": {"backend": "review", "fail_on": "error"}},
            ],
        },
    )
    assert view["status"] == "completed", view
    answer = json.loads(view["output"])
    assert answer["score"] == 1.0 and answer["files"] == 1
    assert sorted(answer["skipped"]) == ["blob.bin: binary", "passwd.txt: symlink out of the tree"]


async def test_a_review_path_out_of_the_run_directory_is_refused_before_anything_runs(
    stack: tuple[httpx.AsyncClient, Settings],
) -> None:
    http, _ = stack
    spec = {
        "name": "review-escape",
        "steps": [{"name": "review", "agent": {"backend": "review", "paths": ["../../etc"]}}],
    }
    refused = await http.post("/v1/runs", json=spec)
    assert refused.status_code == 422
    assert "no '..'" in refused.text
