"""Autofix patches: one suggestion's fix, or many accepted ones, as a unified diff that
`git apply` takes (paths a/<path> and b/<path> relative to the reviewed root).

Fixes are byte ranges of the file and their replacement text. Overlapping fixes cannot
both apply: the first (by position) wins and the others are returned as conflicts."""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from pathlib import Path

from review.models import Suggestion

CONTEXT = 3
HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


def apply_fixes(source: bytes, fixes: list[tuple[int, int, str]]) -> tuple[bytes, list[int]]:
    """`source` with the (start, end, replacement) fixes applied; the indexes of fixes
    skipped because they overlap an earlier one."""
    order = sorted(range(len(fixes)), key=lambda i: (fixes[i][0], fixes[i][1]))
    kept: list[int] = []
    conflicts: list[int] = []
    last_end = -1
    for i in order:
        start, end, _ = fixes[i]
        if start < last_end or start > end or end > len(source):
            conflicts.append(i)
            continue
        kept.append(i)
        last_end = end
    out = source
    for i in reversed(kept):
        start, end, text = fixes[i]
        out = out[:start] + text.encode() + out[end:]
    return out, conflicts


def unified(path: str, before: bytes, after: bytes) -> str:
    a = before.decode("utf-8", errors="surrogateescape").splitlines(keepends=True)
    b = after.decode("utf-8", errors="surrogateescape").splitlines(keepends=True)
    lines = list(difflib.unified_diff(a, b, f"a/{path}", f"b/{path}", n=3))
    out: list[str] = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def single(path: str, source: bytes, start: int, end: int, replacement: str) -> str:
    """`unified(path, source, source-with-this-fix)`, diffing only the fix's lines and
    their context: a review of a large file has hundreds of fixes, and diffing the whole
    file for each one costs seconds."""
    low = start
    for _ in range(CONTEXT + 1):
        low = source.rfind(b"\n", 0, max(low - 1, 0)) + 1 if low > 0 else 0
    high = end
    for _ in range(CONTEXT + 1):
        found = source.find(b"\n", high)
        high = len(source) if found < 0 else found + 1
    before = source[low:high]
    after = before[: start - low] + replacement.encode() + before[end - low :]
    offset = source.count(b"\n", 0, low)
    lines = unified(path, before, after).splitlines(keepends=True)

    def shift(match: re.Match[str]) -> str:
        old_start, old_len, new_start, new_len = match.groups()
        return (
            f"@@ -{int(old_start) + offset}{old_len or ''} "
            f"+{int(new_start) + offset}{new_len or ''} @@"
        )

    return "".join(HUNK.sub(shift, line) if line.startswith("@@") else line for line in lines)


def combine(root: Path, suggestions: list[Suggestion]) -> tuple[str, list[Suggestion]]:
    """One patch for every suggestion with a fix; the ones that could not be included
    (no fix, overlapping another, or the file changed since the review)."""
    by_path: dict[str, list[Suggestion]] = defaultdict(list)
    left_out: list[Suggestion] = []
    for s in suggestions:
        if s.replacement is None or s.start_offset is None or s.end_offset is None:
            left_out.append(s)
        else:
            by_path[s.path].append(s)
    parts: list[str] = []
    for path in sorted(by_path):
        group = by_path[path]
        try:
            source = (root / path).read_bytes()
        except OSError:
            left_out.extend(group)
            continue
        fixes = []
        usable: list[Suggestion] = []
        for s in group:
            assert s.start_offset is not None and s.end_offset is not None
            if source[s.start_offset : s.end_offset].decode(errors="replace") != s.snippet:
                left_out.append(s)  # the file changed since the review
                continue
            fixes.append((s.start_offset, s.end_offset, s.replacement or ""))
            usable.append(s)
        after, conflicts = apply_fixes(source, fixes)
        left_out.extend(usable[i] for i in conflicts)
        if after != source:
            parts.append(unified(path, source, after))
    return "".join(parts), left_out
