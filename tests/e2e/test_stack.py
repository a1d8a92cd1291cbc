"""The whole stack as a user starts it: `acc up`, a run over HTTP, `acc status`, `acc down`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cli.stack import pid_alive
from tests.support.stack import acc_up, api_headers, stack_env

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    env: dict[str, str]
    proc: subprocess.Popen[str]
    api: str
    data_dir: Path

    def acc(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    env = stack_env(tmp)
    with acc_up(tmp, env) as proc:
        yield Stack(env, proc, f"http://127.0.0.1:{env['ACC_API_PORT']}", tmp / ".acc")


def test_a_pipeline_run_over_http_completes_and_is_listed(stack: Stack) -> None:
    spec = {
        "name": "e2e",
        "steps": [
            {"name": "greet", "agent": {"backend": "shell", "command": "echo hello e2e"}},
            {"name": "shout", "agent": {"backend": "shell", "command": "tr a-z A-Z"}},
        ],
    }
    with httpx.Client(base_url=stack.api, timeout=60, headers=api_headers(stack.data_dir)) as http:
        accepted = http.post("/v1/runs", json=spec)
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["id"]
        run = http.get(f"/v1/runs/{run_id}", params={"wait": 30}).json()
        assert run["status"] == "completed", run
        assert run["output"] == "HELLO E2E\n"
        for _ in range(100):
            listed = http.get("/v1/runs", params={"status": "completed"}).json()
            if run_id in [r["id"] for r in listed]:
                break
            time.sleep(0.1)
        assert run_id in [r["id"] for r in listed]
        # The Temporal Web UI shows the run with its search attributes.
        ui_base = run["links"]["temporal_ui"].split("/namespaces")[0]
        shown = http.get(f"{ui_base}/api/v1/namespaces/default/workflows/{run_id}").json()
        info = shown["workflowExecutionInfo"]
        assert info["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"
        assert {"AccPattern", "AccTenant", "AccRunName"} <= set(
            info["searchAttributes"]["indexedFields"]
        )
        assert http.get(run["links"]["temporal_ui"]).status_code == 200
        bad = http.post("/v1/runs", json={"name": "e2e", "steps": [{"name": "x"}]})
        assert bad.status_code == 422 and "steps[0].agent" in bad.json()["error"]["message"]


def test_acc_run_follows_a_spec_file_to_completion(stack: Stack) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "hello-pipeline.yaml"
    done = stack.acc("run", str(example), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "HELLO FROM ACC" in done.stdout
    invalid = stack.data_dir / "bad.yaml"
    invalid.write_text("name: bad\nsteps:\n  - name: a\n    agent: {backend: shell}\n")
    refused = stack.acc("run", str(invalid))
    assert refused.returncode == 1
    assert "steps.0.agent.shell.command: Field required" in refused.stderr


def test_history_replay_and_fork_from_the_cli(stack: Stack) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "hello-pipeline.yaml"
    run_id = stack.acc("run", str(example), "--detach").stdout.strip()
    assert stack.acc("watch", run_id).returncode == 0
    replayed = stack.acc("replay", run_id)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "Replay OK" in replayed.stdout and "greet" in replayed.stdout
    forked = stack.acc("fork", run_id, "--from-step", "1", "--input", "forked input")
    assert forked.returncode == 0, forked.stdout + forked.stderr
    assert "FORKED INPUT" in forked.stdout
    for _ in range(20):  # visibility is eventually consistent
        listed = stack.acc("history", "--status", "completed")
        if run_id in listed.stdout:
            break
        time.sleep(0.2)
    assert run_id in listed.stdout
    piece = run_id[-8:].upper()  # a piece of the id, any case
    found = json.loads(stack.acc("history", "-q", piece, "--since", "1h", "--json").stdout)
    assert [r["id"] for r in found["runs"]] == [run_id]
    first = json.loads(stack.acc("history", "--limit", "1", "--json").stdout)
    assert first["next_cursor"]  # the run and its fork: more than one page of one
    second = json.loads(
        stack.acc("history", "--limit", "1", "--cursor", first["next_cursor"], "--json").stdout
    )
    assert second["runs"] and second["runs"][0]["id"] != first["runs"][0]["id"]
    wrong = stack.acc("history", "--since", "yesterday-ish")
    assert wrong.returncode == 1 and "30s, 10m, 2h, 7d" in wrong.stderr


def test_status_reports_every_part_healthy(stack: Stack) -> None:
    status = stack.acc("status")
    assert status.returncode == 0, status.stdout
    for part in ("temporal", "kafka", "redis", "database", "worker", "api", "pool"):
        assert part in status.stdout


def test_a_second_acc_up_says_one_is_running(stack: Stack) -> None:
    second = stack.acc("up")
    assert second.returncode == 1
    assert "already running" in second.stderr


def test_acc_down_stops_everything_without_orphans(stack: Stack) -> None:
    state = json.loads((stack.data_dir / "stack.json").read_text())
    pids = [state["pid"], *state["parts"].values()]
    down = stack.acc("down")
    assert down.returncode == 0, down.stdout + down.stderr
    stack.proc.wait(timeout=30)
    assert stack.proc.returncode == 0
    for pid in pids:
        assert not pid_alive(pid), f"process {pid} outlived acc down"
    assert not (stack.data_dir / "stack.json").exists()


def test_a_busy_port_is_a_clear_error_and_starts_nothing(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env = stack_env(tmp_path, ACC_API_PORT=str(busy.getsockname()[1]))
        result = subprocess.run(
            [sys.executable, "-m", "cli", "up"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"port {env['ACC_API_PORT']}" in result.stderr and "ACC_API_PORT" in result.stderr
    assert not (tmp_path / ".acc" / "logs").exists()  # nothing was started
