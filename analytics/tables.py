"""The aggregator's SQL tables: the runs projection, 1-minute rollups with their duration
histograms, the same summed by hour and by day (what long ranges read), the events
already counted (what makes the sinks idempotent) and the aggregators' heartbeats. Times
are UTC."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel


class RunRecord(SQLModel, table=True):
    """One run as its events describe it (the read model behind `GET /v1/runs`)."""

    __tablename__ = "run_records"
    __table_args__ = (
        Index("run_records_tenant_started", "tenant", "started_at"),
        # In the runs list's order (started_at DESC NULLS LAST, run_id), made by
        # migrations: run_records_tenant_keyset (0006) on (tenant, ...), and
        # run_records_tenant_status_keyset and _pattern_keyset (0008) on (tenant, status,
        # ...) and (tenant, pattern, ...).
    )

    tenant: str = Field(primary_key=True, max_length=200)
    run_id: str = Field(primary_key=True, max_length=400)
    name: str | None = Field(default=None, max_length=400)
    pattern: str | None = Field(default=None, max_length=40)
    status: str = Field(default="running", max_length=20)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    updated_at: datetime
    cost_usd: float = 0.0
    tokens: int = 0
    quality: float | None = None
    steps_completed: int = 0
    steps_failed: int = 0
    waiting_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Rollup(SQLModel, table=True):
    """One minute of one tenant's events, by pattern and agent ('' when not known or not
    applicable: run-level counts have no agent). Every column adds up."""

    __tablename__ = "metric_rollups"
    __table_args__ = (Index("metric_rollups_tenant_minute", "tenant", "minute"),)

    tenant: str = Field(primary_key=True, max_length=200)
    minute: datetime = Field(primary_key=True)
    pattern: str = Field(primary_key=True, max_length=40)
    agent: str = Field(primary_key=True, max_length=200)
    events: int = 0
    runs_started: int = 0
    runs_completed: int = 0
    runs_failed: int = 0
    runs_cancelled: int = 0
    steps_completed: int = 0
    steps_failed: int = 0
    step_ms_sum: float = 0.0
    run_ms_sum: float = 0.0
    cost_usd: float = 0.0
    tokens: int = 0
    quality_sum: float = 0.0
    quality_count: int = 0


class DurationBucket(SQLModel, table=True):
    """How many step or run durations of a rollup fell in each histogram bucket
    (`analytics.histogram`), so percentiles can be read over any range of minutes."""

    __tablename__ = "metric_duration_buckets"

    tenant: str = Field(primary_key=True, max_length=200)
    minute: datetime = Field(primary_key=True)
    pattern: str = Field(primary_key=True, max_length=40)
    agent: str = Field(primary_key=True, max_length=200)
    kind: str = Field(primary_key=True, max_length=8)  # "step" or "run"
    bucket: int = Field(primary_key=True)
    count: int = 0


class ProcessedEvent(SQLModel, table=True):
    """An event already counted: a redelivered one is skipped."""

    __tablename__ = "processed_events"

    event_id: str = Field(primary_key=True, max_length=200)
    time: datetime = Field(index=True)


class AggregatorHeartbeat(SQLModel, table=True):
    """Each aggregator says it is alive, which partitions it reads and what it counted."""

    __tablename__ = "aggregator_heartbeats"

    member: str = Field(primary_key=True, max_length=200)
    updated_at: datetime
    partitions: str = Field(default="", max_length=2000)
    events: int = 0


class _Sums(SQLModel):
    """The adding columns of a rollup (those of `Rollup`)."""

    events: int = 0
    runs_started: int = 0
    runs_completed: int = 0
    runs_failed: int = 0
    runs_cancelled: int = 0
    steps_completed: int = 0
    steps_failed: int = 0
    step_ms_sum: float = 0.0
    run_ms_sum: float = 0.0
    cost_usd: float = 0.0
    tokens: int = 0
    quality_sum: float = 0.0
    quality_count: int = 0


class HourlyRollup(_Sums, table=True):
    """The `Rollup` rows of one UTC hour, summed (kept by the sink with the minutes)."""

    __tablename__ = "metric_rollups_hourly"

    tenant: str = Field(primary_key=True, max_length=200)
    hour: datetime = Field(primary_key=True)
    pattern: str = Field(primary_key=True, max_length=40)
    agent: str = Field(primary_key=True, max_length=200)


class DailyRollup(_Sums, table=True):
    """The `Rollup` rows of one UTC day, summed (kept by the sink with the minutes)."""

    __tablename__ = "metric_rollups_daily"

    tenant: str = Field(primary_key=True, max_length=200)
    day: datetime = Field(primary_key=True)
    pattern: str = Field(primary_key=True, max_length=40)
    agent: str = Field(primary_key=True, max_length=200)


class HourlyDurationBucket(SQLModel, table=True):
    """The `DurationBucket` counts of one UTC hour, summed."""

    __tablename__ = "metric_duration_buckets_hourly"

    tenant: str = Field(primary_key=True, max_length=200)
    hour: datetime = Field(primary_key=True)
    pattern: str = Field(primary_key=True, max_length=40)
    agent: str = Field(primary_key=True, max_length=200)
    kind: str = Field(primary_key=True, max_length=8)
    bucket: int = Field(primary_key=True)
    count: int = 0


class DailyDurationBucket(SQLModel, table=True):
    """The `DurationBucket` counts of one UTC day, summed."""

    __tablename__ = "metric_duration_buckets_daily"

    tenant: str = Field(primary_key=True, max_length=200)
    day: datetime = Field(primary_key=True)
    pattern: str = Field(primary_key=True, max_length=40)
    agent: str = Field(primary_key=True, max_length=200)
    kind: str = Field(primary_key=True, max_length=8)
    bucket: int = Field(primary_key=True)
    count: int = 0
