"""The served OpenAPI under fuzzing: schemathesis drives every operation of a real stack
(`acc up`) with generated and mutated requests, all its checks on, with the local admin
key. No answer may be a server error, and every answer must be one the schema documents
(status code, content type, headers, body shape).

Per-operation settings (the run spec's rules beyond JSON Schema) are in schemathesis.toml
beside this file; what the fuzzing found and what was fixed is in docs/SECURITY.md
("Fuzzing"). Alone: `.venv/bin/pytest -m fuzz`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stack import acc_up, api_headers, stack_env

pytestmark = [pytest.mark.e2e, pytest.mark.fuzz]

MAX_EXAMPLES = 6  # per operation and phase: bounded, the suite stays fast
MAX_SECONDS = 180
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.timeout(MAX_SECONDS + 300)
def test_the_served_openapi_holds_under_fuzzing(tmp_path: Path) -> None:
    env = stack_env(tmp_path, ACC_API_RATE_LIMIT="0")
    with acc_up(tmp_path, env):
        api = f"http://127.0.0.1:{env['ACC_API_PORT']}"
        key = api_headers(tmp_path / ".acc")["X-API-Key"]
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file",
                str(CONFIG),
                "run",
                f"{api}/openapi.json",
                "--checks",
                "all",
                "--header",
                f"X-API-Key: {key}",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--max-time",
                str(MAX_SECONDS),
                # `wait` may hold POST /v1/runs up to 60 s by design; decisions give up at 20 s.
                "--request-timeout",
                "75",
                "--max-response-time",
                "70",
                "--seed",
                "20261130",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=MAX_SECONDS + 120,
            env=env,
            cwd=tmp_path,
        )
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-2000:]
