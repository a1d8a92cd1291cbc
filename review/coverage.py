"""Test-coverage correlation: a Cobertura report (coverage.py's `coverage xml`, and most
other tools') tells which flagged lines the tests run.

A finding is *covered* when a line of its range that the report lists as executable ran
at least once, *uncovered* when the report lists lines of its range and none ran, and
unknown (None) when the report says nothing about its lines (a file it did not measure,
or a range of blank lines and comments). Its priority starts from its severity (info 1,
warning 2, error 3) and goes up by one when no test runs it (a regression there would go
unnoticed, and the fix has nothing to check it) and down by one when tests do.

File names are resolved as coverage.py writes them: relative to one of the report's
`<source>` folders; else as absolute paths, relative to the reviewed root, or to the
report's own folder."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from review.models import SEVERITY_RANK, Suggestion

Lines = dict[int, int]  # line number -> hits


class CoverageError(ValueError):
    """The coverage report cannot be read."""


def load(report: Path, root: Path) -> dict[str, Lines]:
    """Hits per line for each file the report measured, by path relative to `root`."""
    try:
        tree = ET.parse(report)
    except (OSError, ET.ParseError) as exc:
        raise CoverageError(f"cannot read coverage report {report}: {exc}") from None
    top = tree.getroot()
    if top.tag != "coverage":
        raise CoverageError(f"{report} is not a Cobertura report (its root is <{top.tag}>)")
    root = root.resolve()
    sources = [Path(s.text.strip()) for s in top.iter("source") if s.text and s.text.strip()]
    bases = [*sources, root, report.resolve().parent]
    out: dict[str, Lines] = {}
    for cls in top.iter("class"):
        name = cls.get("filename")
        if not name:
            continue
        rel = _relative(name, bases, root)
        if rel is None:
            continue
        lines = out.setdefault(rel, {})
        for line in cls.iter("line"):
            try:
                number, hits = int(line.get("number", "")), int(line.get("hits", "0"))
            except ValueError:
                continue
            lines[number] = lines.get(number, 0) + hits
    return out


def _relative(name: str, bases: list[Path], root: Path) -> str | None:
    path = Path(name)
    candidates = [path] if path.is_absolute() else [base / path for base in bases]
    for candidate in candidates:
        full = candidate.resolve()
        if full.is_file() and full.is_relative_to(root):
            return full.relative_to(root).as_posix()
    return None


def covered(lines: Lines | None, start: int, end: int) -> bool | None:
    """Whether tests run any executable line of [start, end]; None when none is known."""
    if lines is None:
        return None
    hits = [lines[n] for n in range(start, end + 1) if n in lines]
    if not hits:
        return None
    return any(h > 0 for h in hits)


def base_priority(suggestion: Suggestion) -> int:
    return SEVERITY_RANK[suggestion.severity] + 1


def correlate(suggestions: list[Suggestion], by_file: dict[str, Lines]) -> None:
    """Mark each suggestion covered or not and move its priority accordingly."""
    for s in suggestions:
        s.covered = covered(by_file.get(s.path), s.line, s.end_line)
        step = 0 if s.covered is None else (-1 if s.covered else 1)
        s.priority = base_priority(s) + step
