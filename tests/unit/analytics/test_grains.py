"""Which grain answers which part of a range: every minute of the range read exactly once,
no coarse row across a step boundary, the coarsest grain that fits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.grains import DAY, HOUR, MINUTE, plan
from analytics.ranges import TimeRange

MIDNIGHT = datetime(2026, 11, 21, tzinfo=UTC)
M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


def minutes_read(rng: TimeRange) -> list[datetime]:
    """Each minute the plan reads, once per coarse or minute row that holds it; and checks
    that no row read crosses a step boundary."""
    out = []
    for grain, intervals in plan(rng).items():
        for lo, hi in intervals:
            assert lo == grain.floor(lo) and hi == grain.floor(hi), (grain.name, lo, hi)
            row = lo
            while row < hi:
                assert rng.slot(row) == rng.slot(row + grain.size - M), (grain.name, row)
                out.extend(row + i * M for i in range(grain.size // M))
                row += grain.size
    return sorted(out)


@pytest.mark.parametrize(
    ("start", "end", "step"),
    [
        (MIDNIGHT - 3 * H - 17 * M, MIDNIGHT + 26 * H + 13 * M, 6 * H),
        (MIDNIGHT - 3 * H - 17 * M, MIDNIGHT + 26 * H + 13 * M, H),
        (MIDNIGHT - 3 * H, MIDNIGHT + 27 * H, H),
        (MIDNIGHT - 3 * H, MIDNIGHT + 27 * H, D),
        (MIDNIGHT - 2 * D - 7 * M, MIDNIGHT + 2 * D + 9 * M, 2 * D),
        (MIDNIGHT - 5 * H - 3 * M, MIDNIGHT + 29 * H + 7 * M, 34 * H + 10 * M),
        (MIDNIGHT - 30 * D + 41 * M, MIDNIGHT + 41 * M, 6 * H),
        (MIDNIGHT - 3 * H, MIDNIGHT + 3 * H, 15 * M),
        (MIDNIGHT - 3 * H - 1 * M, MIDNIGHT + 3 * H, 7 * M),
        (MIDNIGHT, MIDNIGHT, H),
    ],
)
def test_every_minute_is_read_once(start: datetime, end: datetime, step: timedelta) -> None:
    rng = TimeRange(start, end, step)
    expected = [start + i * M for i in range((end - start) // M)]
    assert minutes_read(rng) == expected


def test_the_coarsest_grain_that_fits_is_chosen() -> None:
    # Aligned hourly steps: all hours, no minutes.
    assert plan(TimeRange(MIDNIGHT - 3 * H, MIDNIGHT + 27 * H, H)) == {
        HOUR: [(MIDNIGHT - 3 * H, MIDNIGHT + 27 * H)]
    }
    # One step over the whole range: whole days, then hours, then minutes at the edges.
    whole = plan(TimeRange(MIDNIGHT - 90 * M, MIDNIGHT + D + 90 * M, D + 3 * H))
    assert whole == {
        DAY: [(MIDNIGHT, MIDNIGHT + D)],
        HOUR: [(MIDNIGHT - H, MIDNIGHT), (MIDNIGHT + D, MIDNIGHT + D + H)],
        MINUTE: [(MIDNIGHT - 90 * M, MIDNIGHT - H), (MIDNIGHT + D + H, MIDNIGHT + D + 90 * M)],
    }
    # Steps finer than an hour: minutes only.
    assert plan(TimeRange(MIDNIGHT, MIDNIGHT + D, 15 * M)) == {MINUTE: [(MIDNIGHT, MIDNIGHT + D)]}
    # 30 days by 6 hours, not on the hour: the hours across each step boundary in minutes.
    start = MIDNIGHT - 30 * D + 41 * M
    parts = plan(TimeRange(start, start + 30 * D, 6 * H))
    assert set(parts) == {HOUR, MINUTE}
    assert sum((hi - lo) // H for lo, hi in parts[HOUR]) == 30 * 4 * 5
