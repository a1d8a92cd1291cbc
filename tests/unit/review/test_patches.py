"""A single fix's patch, diffed over its own lines only, is the same patch as the one
diffed over the whole file, wherever the fix is (first line, middle, last line without a
newline) and whatever it does (shorter, longer, more lines, removed)."""

from __future__ import annotations

import pytest

from review.patches import apply_fixes, single, unified

pytestmark = pytest.mark.unit
SOURCE = "".join(f"line {n} = value_{n}\n" for n in range(1, 41)).encode() + b"last = 1"


@pytest.mark.parametrize(
    ("needle", "replacement"),
    [
        (b"line 1 = value_1", "first = 1"),
        (b"value_2\n", "value_2\n"),
        (b"value_20", "value_twenty"),
        (b"value_20", "a\nb\nc"),
        (b"line 21 = value_21\nline 22", "line 22"),
        (b"value_39", ""),
        (b"last = 1", "last = 2"),
        (b"1", "one"),
    ],
)
def test_a_single_fix_diffs_the_same_over_its_lines_as_over_the_file(
    needle: bytes, replacement: str
) -> None:
    start = SOURCE.index(needle)
    end = start + len(needle)
    after, _ = apply_fixes(SOURCE, [(start, end, replacement)])
    assert single("app.py", SOURCE, start, end, replacement) == unified("app.py", SOURCE, after)
