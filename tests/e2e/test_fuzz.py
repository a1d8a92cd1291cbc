"""The served OpenAPI under fuzzing: schemathesis drives every operation of a real stack
(`acc up`) with generated and mutated requests, all its checks on, with the local admin
key. No answer may be a server error, and every answer must be one the schema documents
(status code, content type, headers, body shape).

Not in the default run (marker `fuzz`): `.venv/bin/pytest -m fuzz tests/e2e/test_fuzz.py`.
What it found and what is fixed is in docs/SECURITY.md ("Fuzzing"): it does not pass yet,
so it is kept out of the default run until it does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stack import acc_up, api_headers, stack_env

pytestmark = [pytest.mark.e2e, pytest.mark.fuzz]

MAX_EXAMPLES = 6  # per operation and phase: bounded, the suite stays fast
MAX_SECONDS = 240


@pytest.mark.timeout(MAX_SECONDS + 300)
def test_the_served_openapi_holds_under_fuzzing(tmp_path: Path) -> None:
    env = stack_env(tmp_path, ACC_API_RATE_LIMIT="0")
    with acc_up(tmp_path, env):
        api = f"http://127.0.0.1:{env['ACC_API_PORT']}"
        key = api_headers(tmp_path / ".acc")["X-API-Key"]
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
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
                "--request-timeout",
                "30",
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
