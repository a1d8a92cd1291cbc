"""Time ranges: presets, custom ranges, steps, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics import histogram
from analytics.ranges import resolve
from core.errors import InvalidInput

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 30, 12, 0, 40, tzinfo=UTC)


@pytest.mark.parametrize(
    ("preset", "points", "step"),
    [("15m", 15, 60), ("1h", 60, 60), ("24h", 96, 900), ("7d", 168, 3600), ("30d", 120, 21600)],
)
def test_presets_end_with_the_current_minute(preset: str, points: int, step: int) -> None:
    rng = resolve(preset, now=NOW)
    assert rng.end == datetime(2026, 11, 30, 12, 1, tzinfo=UTC)
    assert len(rng.steps()) == points and rng.step.total_seconds() == step


def test_a_custom_range_gets_a_step_of_whole_minutes() -> None:
    rng = resolve(start=NOW - timedelta(days=2), end=NOW, now=NOW)
    assert rng.step == timedelta(minutes=15) and len(rng.steps()) == 192
    assert resolve(start=NOW - timedelta(hours=1), end=NOW, step_seconds=600).step.seconds == 600


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"preset": "2w"}, "one of 15m, 1h"),
        ({"preset": "1h", "step_seconds": 90}, "whole number of minutes"),
        ({"start": NOW, "step_seconds": 0}, "whole number of minutes"),
    ],
)
def test_bad_ranges_are_refused_saying_why(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        resolve(**kwargs, now=NOW)  # type: ignore[arg-type]


def test_every_other_combination_has_one_meaning() -> None:
    hour = timedelta(hours=1)
    # A start wins over a preset, which then only picks the step.
    both = resolve("24h", start=NOW - 2 * hour, end=NOW, now=NOW)
    assert (both.end - both.start, both.step) == (2 * hour, timedelta(minutes=15))
    # A start at or after the end is an empty range.
    assert resolve(start=NOW, end=NOW - hour, now=NOW).steps() == []
    # A range longer than 400 days keeps its last 400 days.
    long = resolve(start=NOW - timedelta(days=500), end=NOW, now=NOW)
    assert long.end - long.start == timedelta(days=400)
    # The step grows to keep at most 2000 points.
    fine = resolve("30d", step_seconds=60, now=NOW)
    assert len(fine.steps()) <= 2000 and fine.step == timedelta(minutes=22)


def test_percentiles_from_buckets_are_within_ten_percent() -> None:
    values = [float(v) for v in range(1, 10_001)]
    counts = histogram.of(values)
    for q in (50, 90, 99):
        exact = values[int(q / 100 * len(values)) - 1]
        assert histogram.percentile(counts, q) == pytest.approx(exact, rel=0.1)
    assert histogram.percentile({}, 50) is None
