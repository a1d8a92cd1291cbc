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
    """The range a query asked for; InvalidInput (422) naming the parameter otherwise."""
    now = now or datetime.now(UTC)
    end_at = minute_of(end or now) + (timedelta(minutes=1) if end is None else timedelta())
    if start is not None:
        if preset is not None:
            raise InvalidInput("give either range or start (and end), not both", {"range": preset})
        start_at = minute_of(start)
        default_step = None
    else:
        span, default_step = PRESETS.get(preset or "1h", (None, None))
        if span is None:
            raise InvalidInput(
                f"range {preset!r}: one of {', '.join(PRESETS)}, or start and end",
                {"range": preset},
            )
        start_at = end_at - span
    if start_at >= end_at:
        raise InvalidInput("start must be before end", {"start": str(start), "end": str(end)})
    if end_at - start_at > MAX_RANGE:
        raise InvalidInput(f"a range is at most {MAX_RANGE.days} days", {"start": str(start)})
    if step_seconds is not None:
        if step_seconds < 60 or step_seconds % 60:
            raise InvalidInput("step: a whole number of minutes, in seconds (60, 300...)")
        step = timedelta(seconds=step_seconds)
    else:
        minutes = math.ceil((end_at - start_at) / timedelta(minutes=1) / 200)
        step = default_step or timedelta(minutes=max(1, minutes))
    if (end_at - start_at) / step > MAX_POINTS:
        raise InvalidInput(f"step: at most {MAX_POINTS} points per series; take a longer step")
    return TimeRange(start_at, end_at, step)
