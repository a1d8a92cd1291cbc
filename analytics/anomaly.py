"""Anomaly detection: a rolling robust z-score (Iglewicz and Hoaglin's modified z-score).

Each point is compared with the `window` points before it: with m their median and
MAD the median of |x - m|, its score is z = 0.6745 (x - m) / MAD, and it is an anomaly
when |z| > `threshold` (3.5, the authors' recommendation). Median and MAD ignore the
spikes they are meant to find, unlike a mean and standard deviation. When MAD is 0 (a
flat baseline) the mean absolute deviation (x 1.2533) stands in; when that is 0 too,
any change from the baseline is an anomaly. Points with fewer than `min_history` points
before them are not judged. On Gaussian noise the false-positive rate is about 0.05%
per point (|z| > 3.5) with an exact baseline, about 0.2% with a 60-point window (its
median and MAD wobble); `tests/unit/analytics/test_anomaly.py` measures it on a
synthetic series.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

CONSISTENCY = 0.6745  # makes MAD estimate the standard deviation of a normal distribution
MEAN_AD = 1.2533  # sqrt(pi / 2): the same for the mean absolute deviation


@dataclass(frozen=True)
class Judged:
    index: int
    value: float
    baseline: float  # the window's median
    score: float  # the modified z-score
    anomaly: bool


def robust_z_scores(
    values: Sequence[float],
    window: int = 60,
    threshold: float = 3.5,
    min_history: int = 10,
) -> list[Judged]:
    judged = []
    for i, value in enumerate(values):
        history = values[max(0, i - window) : i]
        if len(history) < min_history:
            continue
        median = statistics.median(history)
        deviations = [abs(x - median) for x in history]
        mad = statistics.median(deviations)
        if mad > 0:
            score = CONSISTENCY * (value - median) / mad
        else:
            mean_ad = statistics.fmean(deviations)
            if mean_ad > 0:
                score = (value - median) / (MEAN_AD * mean_ad)
            else:
                score = 0.0 if value == median else float("inf") * (1 if value > median else -1)
        judged.append(Judged(i, value, median, score, abs(score) > threshold))
    return judged
