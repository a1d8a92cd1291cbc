"""Time ranges of analytics queries: presets (15m, 1h, 24h, 7d, 30d) or a custom start and
end, cut into steps of whole minutes (the rollups' grain)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from analytics.fold import minute_of, utc
from core.errors import InvalidInput

Preset = Literal["15m", "1h", "24h", "7d", "30d"]
PRESETS: dict[str, tuple[timedelta, timedelta]] = {  # range, default step
    "15m": (timedelta(minutes=15), timedelta(minutes=1)),
    "1h": (timedelta(hours=1), timedelta(minutes=1)),
    "24h": (timedelta(hours=24), timedelta(minutes=15)),
    "7d": (timedelta(days=7), timedelta(hours=1)),
    "30d": (timedelta(days=30), timedelta(hours=6)),
}
MAX_POINTS = 2000
MAX_RANGE = timedelta(days=400)


@dataclass(frozen=True)
class TimeRange:
    start: datetime  # inclusive, on a minute
    end: datetime  # exclusive, on a minute
    step: timedelta

    def steps(self) -> list[datetime]:
        if self.end <= self.start:
            return []
        count = math.ceil((self.end - self.start) / self.step)
        return [self.start + i * self.step for i in range(count)]

    def slot(self, moment: datetime) -> datetime:
        return self.start + ((utc(moment) - self.start) // self.step) * self.step


def resolve(
    preset: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    step_seconds: int | None = None,
    now: datetime | None = None,
) -> TimeRange:
    """The range a query asked for. Every combination the API's schema allows has one
    meaning, so none is refused:
    - `start` (and `end`, default now) win over a preset, which then only picks the step;
    - a start at or after the end is an empty range (no points);
    - a range longer than MAX_RANGE keeps its last MAX_RANGE;
    - the step grows, in whole minutes, to keep at most MAX_POINTS points.
    Only a preset the API does not know is InvalidInput (the CLI and tests call this)."""
    now = now or datetime.now(UTC)
    end_at = minute_of(end or now) + (timedelta(minutes=1) if end is None else timedelta())
    if preset is not None and preset not in PRESETS:
        raise InvalidInput(
            f"range {preset!r}: one of {', '.join(PRESETS)}, or start and end", {"range": preset}
        )
    span, default_step = PRESETS[preset or "1h"]
    start_at = end_at - span if start is None else min(minute_of(start), end_at)
    start_at = max(start_at, end_at - MAX_RANGE)
    if step_seconds is not None:
        if step_seconds < 60 or step_seconds % 60:
            raise InvalidInput("step: a whole number of minutes, in seconds (60, 300...)")
        step = timedelta(seconds=step_seconds)
    elif start is None or preset is not None:
        step = default_step
    else:
        step = timedelta(minutes=max(1, math.ceil((end_at - start_at) / timedelta(minutes=200))))
    if (end_at - start_at) / step > MAX_POINTS:
        step = timedelta(minutes=math.ceil((end_at - start_at) / MAX_POINTS / timedelta(minutes=1)))
    return TimeRange(start_at, end_at, step)
