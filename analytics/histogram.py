"""Duration histograms: log-spaced buckets that add up across minutes, aggregators and
tenants, so percentiles over any range come from summed bucket counts.

Bucket `b` holds durations in [2^(b/4), 2^((b+1)/4)) milliseconds: four buckets per
doubling, each about 19% wide, from 1 ms (bucket 0, with everything below) to about
12 days (bucket 120, with everything above). A percentile is read as the geometric
middle of the bucket it falls in, so it is within about 9% of the exact value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

PER_DOUBLING = 4
TOP = 120


def bucket(ms: float) -> int:
    if ms <= 1:
        return 0
    return min(TOP, int(math.log2(ms) * PER_DOUBLING))


def bucket_value(index: int) -> float:
    """The value a bucket stands for: its geometric middle."""
    return float(2 ** ((index + 0.5) / PER_DOUBLING))


def upper_bound(index: int) -> float:
    return float(2 ** ((index + 1) / PER_DOUBLING))


def percentile(counts: Mapping[int, int], q: float) -> float | None:
    """The q-th percentile (0..100) of what the bucket counts describe."""
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = q / 100 * total
    seen = 0
    for index in sorted(counts):
        seen += counts[index]
        if seen >= rank and counts[index] > 0:
            return bucket_value(index)
    return bucket_value(max(counts))


def of(durations: Iterable[float]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for ms in durations:
        b = bucket(ms)
        counts[b] = counts.get(b, 0) + 1
    return counts
