"""Record the histories replayed in CI: `python -m tests.replay.record`.

Runs every scenario of `scenarios.py` on a local Temporal dev server with the real workers
(shell agents, Tansu broker, SQLite) and saves each run's history as
`histories/<version>/<scenario>.json`, the version being acc's (pyproject.toml). Record
once per release: the histories of every released version stay and keep replaying, since
runs started on one may still be running on the next. A history that no longer replays
means running workflows would break; guard such changes with `workflow.patched()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from core.settings import Settings, load_settings
from tests.conftest import running_workers
from tests.replay.scenarios import SCENARIOS
from tests.support import servers

HERE = Path(__file__).parent / "histories" / version("acc")


async def main() -> None:
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        settings = load_settings(
            DATA_DIR=tmp,
            KAFKA_BOOTSTRAP=stack.enter_context(servers.tansu()),
            REDIS_URL=stack.enter_context(servers.redis_server(tmp)),
            DATABASE_URL=f"sqlite:///{tmp}/acc.db",
            ORCHESTRATION_QUEUE="replay",
            AGENTS_QUEUE="replay-agents",
        )
        env = await servers.temporal_dev_server()
        try:
            await record(env, settings)
        finally:
            await env.shutdown()


async def record(env: WorkflowEnvironment, settings: Settings) -> None:
    async with running_workers(env.client, settings):
        HERE.mkdir(exist_ok=True)
        for name, scenario in SCENARIOS.items():
            handles = await scenario(env.client, settings, name)
            history = await handles[-1].fetch_history()
            (HERE / f"{name}.json").write_text(json.dumps(history.to_json_dict(), indent=1))
            print(f"recorded {name}: {len(history.events)} events")


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)  # a short-lived Temporal client can crash the interpreter at exit
