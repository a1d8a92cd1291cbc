"""1-second windows of the events an aggregator counted, for live subscribers.

Windows follow event time. A window is published once its second has passed by `GRACE`;
an event later than that opens the same second again and is published as a second
message. Each aggregator publishes what it counted, so a subscriber adds up the messages
with the same `tenant` and `window_start` (several aggregators, or a late event).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

from analytics import histogram
from analytics.fold import TERMINAL
from analytics.sink import Counted

GRACE = timedelta(milliseconds=100)
QUANTILES = (50, 95, 99)


class Counts(BaseModel):
    events: int = 0
    runs_started: int = 0
    runs_completed: int = 0
    runs_failed: int = 0
    runs_cancelled: int = 0
    steps_completed: int = 0
    steps_failed: int = 0
    cost_usd: float = 0.0
    tokens: int = 0


TERMINAL_FIELDS = {kind: f"runs_{status}" for kind, status in TERMINAL.items()}


@dataclass(slots=True)
class Tally:
    """What `Counts` publishes, counted in a plain object (a pydantic model's attribute
    writes cost several times more, once per event)."""

    events: int = 0
    runs_started: int = 0
    runs_completed: int = 0
    runs_failed: int = 0
    runs_cancelled: int = 0
    steps_completed: int = 0
    steps_failed: int = 0
    cost_usd: float = 0.0
    tokens: int = 0

    def add(self, counted: Counted) -> None:
        event = counted.event
        self.events += 1
        kind = event.type
        if kind == "run.started":
            self.runs_started += 1
        elif kind in TERMINAL_FIELDS:
            name = TERMINAL_FIELDS[kind]
            setattr(self, name, getattr(self, name) + 1)
        elif kind == "step.completed":
            self.steps_completed += 1
            self.cost_usd += event.cost_usd or 0.0
            self.tokens += event.tokens or 0
        elif kind == "step.failed":
            self.steps_failed += 1

    def counts(self) -> Counts:
        return Counts(**asdict(self))


class WindowMetrics(Counts):
    """One second of one tenant's events, as one aggregator counted them."""

    version: int = 1
    tenant: str
    window_start: datetime
    window_seconds: float = 1.0
    member: str = Field(description="The aggregator that counted them")
    events_per_second: float = 0.0
    step_duration_ms: dict[str, float] = Field(
        default_factory=dict, description="p50, p95, p99 and max of step durations"
    )
    quality_avg: float | None = None
    by_pattern: dict[str, Counts] = Field(default_factory=dict)
    by_agent: dict[str, Counts] = Field(default_factory=dict)
    emitted_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class Window:
    def __init__(self) -> None:
        self.total = Tally()
        self.durations: list[float] = []
        self.qualities: list[float] = []
        self.by_pattern: dict[str, Tally] = defaultdict(Tally)
        self.by_agent: dict[str, Tally] = defaultdict(Tally)

    def add(self, counted: Counted) -> None:
        event = counted.event
        self.total.add(counted)
        if counted.pattern:
            self.by_pattern[counted.pattern].add(counted)
        if event.agent:
            self.by_agent[event.agent].add(counted)
        if event.type == "step.completed" and isinstance(
            ms := event.data.get("duration_ms"), int | float
        ):
            self.durations.append(float(ms))
        if event.type in TERMINAL and isinstance(q := event.data.get("quality"), int | float):
            self.qualities.append(float(q))

    def metrics(self, tenant: str, start: datetime, member: str) -> WindowMetrics:
        buckets = histogram.of(self.durations)
        durations = {f"p{q}": histogram.percentile(buckets, q) for q in QUANTILES}
        quantiles = {k: v for k, v in durations.items() if v is not None}
        if self.durations:
            quantiles["max"] = max(self.durations)
        return WindowMetrics(
            **asdict(self.total),
            tenant=tenant,
            window_start=start,
            member=member,
            events_per_second=float(self.total.events),
            step_duration_ms=quantiles,
            quality_avg=sum(self.qualities) / len(self.qualities) if self.qualities else None,
            by_pattern={name: tally.counts() for name, tally in self.by_pattern.items()},
            by_agent={name: tally.counts() for name, tally in self.by_agent.items()},
        )


class Windows:
    """Open 1-second windows by (tenant, second)."""

    def __init__(self, member: str) -> None:
        self.member = member
        self._open: dict[tuple[str, datetime], Window] = {}

    def add(self, counted: list[Counted]) -> None:
        for item in counted:
            moment = item.event.time.astimezone(UTC).replace(microsecond=0)
            key = (item.event.tenant, moment)
            window = self._open.get(key)
            if window is None:
                window = self._open[key] = Window()
            window.add(item)

    def closed(self, now: datetime | None = None) -> list[WindowMetrics]:
        """Take the windows whose second is over (by GRACE)."""
        now = now or datetime.now(UTC)
        done = [k for k in self._open if k[1] + timedelta(seconds=1) + GRACE <= now]
        return [self._open.pop(k).metrics(k[0], k[1], self.member) for k in sorted(done)]
