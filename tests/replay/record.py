"""Record the histories replayed in CI: `python -m tests.replay.record`.

Runs every scenario of `scenarios.py` on a local Temporal dev server with the real workers
(shell agents, Tansu broker, SQLite) and saves each run's history as
`histories/<scenario>.json`. Re-record only on purpose: a history that no longer replays
means running workflows would break; guard such changes with `workflow.patched()`.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from cli.stack import TEMPORAL_LOW_LATENCY, tansu_binary
from core.settings import load_settings
from core.temporal import PATTERN, QUALITY, RUN_NAME, TENANT
from tests.conftest import free_port, running_workers
from tests.replay.scenarios import SCENARIOS

HERE = Path(__file__).parent / "histories"


async def main() -> None:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen(
        [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        port=None,
        data_converter=pydantic_data_converter,
        search_attributes=[PATTERN, TENANT, RUN_NAME, QUALITY],
        dev_server_extra_args=TEMPORAL_LOW_LATENCY,
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                DATA_DIR=Path(tmp),
                KAFKA_BOOTSTRAP=f"127.0.0.1:{port}",
                DATABASE_URL=f"sqlite:///{tmp}/acc.db",
                ORCHESTRATION_QUEUE="replay",
                AGENTS_QUEUE="replay-agents",
            )
            async with running_workers(env.client, settings):
                HERE.mkdir(exist_ok=True)
                for name, scenario in SCENARIOS.items():
                    handles = await scenario(env.client, settings, name)
                    history = await handles[-1].fetch_history()
                    (HERE / f"{name}.json").write_text(json.dumps(history.to_json_dict(), indent=1))
                    print(f"recorded {name}: {len(history.events)} events")
    finally:
        await env.shutdown()
        broker.terminate()


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)  # a short-lived Temporal client can crash the interpreter at exit
