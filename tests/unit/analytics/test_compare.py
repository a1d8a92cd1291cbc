"""Pearson and Spearman correlation and ranks with ties, against values worked by hand."""

from __future__ import annotations

import pytest

from analytics.compare import pearson, ranks, relative_change, spearman


def test_ranks_share_their_average_when_tied() -> None:
    assert ranks([10, 20, 20, 5]) == [2, 3.5, 3.5, 1]


def test_pearson_and_spearman() -> None:
    xs = [1, 2, 3, 4, 5]
    assert pearson(xs, [2, 4, 6, 8, 10]) == pytest.approx(1.0)
    assert pearson(xs, [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    # Monotonic but not linear: rank correlation 1, linear correlation below it.
    squares = [x**3 for x in xs]
    assert spearman(xs, squares) == pytest.approx(1.0)
    assert pearson(xs, squares) == pytest.approx(0.9431, abs=1e-4)
    # Worked example: d = rank differences (0, 0, -1, 1, 0): rho = 1 - 6*2 / (5*24) = 0.9
    assert spearman(xs, [1, 2, 4, 3, 5]) == pytest.approx(0.9)


def test_too_few_points_or_a_constant_have_no_correlation() -> None:
    assert pearson([1, 2], [2, 4]) is None
    assert pearson([1, 2, 3], [7, 7, 7]) is None
    assert spearman([1, 1, 1], [1, 2, 3]) is None


def test_relative_change() -> None:
    assert relative_change(150, 100) == pytest.approx(0.5)
    assert relative_change(-50, -100) == pytest.approx(0.5)  # against |baseline|
    assert relative_change(5, 0) is None and relative_change(None, 3) is None
