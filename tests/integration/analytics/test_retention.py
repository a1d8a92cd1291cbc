"""Retention against real SQL and the real local Temporal server: rows older than the
cutoff go and newer ones stay, in every table the job clears; the schedule is created once
and brought in line on the next start; triggered, it removes a closed run's worktree (and
its repository forgets it) and keeps the folders of a run that closed just now."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from analytics import retention
from analytics.alerts import Alert
from analytics.tables import (
    DailyDurationBucket,
    DailyRollup,
    DurationBucket,
    HourlyDurationBucket,
    HourlyRollup,
    ProcessedEvent,
    Rollup,
    RunRecord,
)
from core import temporal
from core.artifacts import Artifact, ArtifactStore
from core.contracts import PurgeResult, RunInput
from core.receipts import Receipt
from core.settings import Settings
from core.specs import parse_spec
from tests.conftest import running_workers
from tests.integration.analytics.test_aggregator import migrated
from workers.schedules import ensure_retention, ensure_retention_schedule, retention_schedule_id
from workflows.pipeline import PipelineWorkflow

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
OLD, NEW = NOW - timedelta(days=31), NOW - timedelta(days=29)
CUTOFF = NOW - timedelta(days=30)


def rows(tag: str, at: datetime) -> list[SQLModel]:
    """One row of every table the job clears, `at` old."""
    minute = at.replace(second=0)
    hour, day = minute.replace(minute=0), minute.replace(hour=0, minute=0)
    bucket = {"tenant": "t", "pattern": tag, "agent": "", "kind": "run", "bucket": 1}
    return [
        Artifact(tenant="t", id=tag, size=1, content=b"x", created_at=at),
        Receipt(run_id=tag, step_index=0, attempt=1, result="{}", created_at=at),
        ProcessedEvent(event_id=tag, time=at),
        Rollup(tenant="t", minute=minute, pattern=tag, agent=""),
        DurationBucket(minute=minute, **bucket),
        HourlyRollup(tenant="t", hour=hour, pattern=tag, agent=""),
        DailyRollup(tenant="t", day=day, pattern=tag, agent=""),
        HourlyDurationBucket(hour=hour, **bucket),
        DailyDurationBucket(day=day, **bucket),
        RunRecord(tenant="t", run_id=tag, status="completed", ended_at=at, updated_at=at),
        Alert(
            id=tag, tenant="t", rule_id="r", rule_name="r", status="resolved", message="m",
            opened_at=at, last_seen_at=at,
        ),
    ]  # fmt: skip


async def test_rows_older_than_the_cutoff_go_and_newer_ones_stay(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    async with migrated(settings) as engine:
        async with AsyncSession(engine) as session:
            session.add_all([*rows("old", OLD), *rows("new", NEW)])
            # A run still in progress is kept whatever its age.
            session.add(RunRecord(tenant="t", run_id="waiting", status="waiting", updated_at=OLD))
            await session.commit()
        removed = await retention.purge(engine, CUTOFF)
        assert removed == {
            "artifacts": 1,
            "receipts": 1,
            "processed_events": 1,
            "metric_rollups": 1,
            "metric_duration_buckets": 1,
            "metric_rollups_hourly": 1,
            "metric_rollups_daily": 1,
            "metric_duration_buckets_hourly": 1,
            "metric_duration_buckets_daily": 1,
            "run_records": 1,
            "alerts": 1,
        }
        async with AsyncSession(engine) as session:
            runs = (await session.exec(select(RunRecord.run_id))).all()
            assert sorted(runs) == ["new", "waiting"]
            assert (await session.exec(select(Rollup.pattern))).all() == ["new"]
            assert (await session.exec(select(DailyRollup.pattern))).all() == ["new"]
            assert (await session.exec(select(Alert.id))).all() == ["new"]
            assert (await session.exec(select(Receipt.run_id))).all() == ["new"]
        assert await retention.purge(engine, CUTOFF) == dict.fromkeys(removed, 0)


async def test_an_artifact_stored_again_counts_its_age_from_then(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    async with migrated(settings) as engine:
        store = ArtifactStore(engine, inline_limit=1)
        digest = await store.put("t", b"shared output")
        async with AsyncSession(engine) as session:
            artifact = await session.get(Artifact, ("t", digest))
            assert artifact is not None
            artifact.created_at = OLD
            await session.commit()
        await store.put("t", b"shared output")  # a new run produced the same output
        await retention.purge(engine, CUTOFF)
        assert await store.get("t", digest) is not None


def git(*args: str | Path) -> str:
    return subprocess.run(
        ["git", *map(str, args)], check=True, capture_output=True, text=True
    ).stdout


async def test_the_schedule_removes_the_folders_of_closed_runs(
    temporal_env: WorkflowEnvironment,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(WORKSPACES_KEEP_HOURS=1, RETENTION_EVERY_HOURS=24)
    client: Client = temporal_env.client
    repo = tmp_path / "repo"
    git("init", "-q", repo)
    git(
        "-C",
        repo,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "c",
    )
    gone = f"gone-{uuid.uuid4().hex[:8]}"  # a run Temporal no longer knows
    worktree = settings.data_dir / "worktrees" / gone / "worker"
    git("-C", repo, "worktree", "add", "-q", "--detach", worktree)
    (settings.data_dir / "runs" / gone).mkdir(parents=True)
    schedule_id = retention_schedule_id(settings)
    with caplog.at_level(logging.WARNING, logger="workers.schedules"):
        await ensure_retention(client, settings)  # as a worker does when it starts
    kept = await temporal.retention(client)
    mismatch = [r.getMessage() for r in caplog.records if "ACC_RETENTION_DAYS" in r.getMessage()]
    assert len(mismatch) == (kept != timedelta(days=30))  # the test server keeps its default
    try:
        again = make_settings(**{**settings.model_dump(), "RETENTION_EVERY_HOURS": 12})
        await ensure_retention_schedule(client, again)  # exists: updated, not duplicated
        handle = client.get_schedule_handle(schedule_id)
        spec = (await handle.describe()).schedule.spec
        assert [i.every for i in spec.intervals] == [timedelta(hours=12)]
        async with running_workers(client, settings):
            just_closed = f"recent-{uuid.uuid4().hex[:8]}"
            run = parse_spec(
                {
                    "name": "r",
                    "steps": [{"name": "s", "agent": {"backend": "shell", "command": "true"}}],
                }
            )
            await client.execute_workflow(
                PipelineWorkflow.run,
                RunInput(
                    run_id=just_closed, tenant="t", spec=run, agents_queue=settings.agents_queue
                ),
                id=just_closed,
                task_queue=settings.ORCHESTRATION_QUEUE,
            )
            assert (settings.data_dir / "runs" / just_closed).is_dir()
            await handle.trigger()
            started = None
            for _ in range(200):
                actions = (await handle.describe()).info.recent_actions
                if actions:
                    started = actions[0].action.workflow_id
                    break
                await asyncio.sleep(0.05)
            assert started is not None
            result = await client.get_workflow_handle(started, result_type=PurgeResult).result()
    finally:
        await client.get_schedule_handle(schedule_id).delete()
    assert sorted(result.workspaces) == [f"runs/{gone}", f"worktrees/{gone}"]
    assert not (settings.data_dir / "worktrees" / gone).exists()
    assert (settings.data_dir / "runs" / just_closed).is_dir()  # closed a moment ago: kept
    assert str(worktree) not in git("-C", repo, "worktree", "list")
    assert set(result.rows) >= {"artifacts", "run_records", "alerts"}
    # The worker counted what the job removed (its metrics, workers/metrics.py).
    assert REGISTRY.get_sample_value("acc_retention_removed_total", {"what": "workspaces"})
