"""A review, start to end: the target files, one semgrep run over the enabled rules,
complexity per function, then suggestions filtered by the diff, the team's standards and
the request, each with its calibrated confidence and its fix.

`review()` is synchronous and calls `tick` about once a second while semgrep runs, so an
activity can heartbeat; nothing in it raises for a bad file (it is skipped with a
reason). Bad requests (a root that is not a directory, a path out of the root, an unknown
git ref) raise ReviewInputError with a message naming the fix."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from review import complexity, coverage, diffs, patches, semgrep, targets
from review.models import (
    SEVERITY_RANK,
    FunctionComplexity,
    Report,
    ReviewRequest,
    Rule,
    Severity,
    Skipped,
    Suggestion,
)
from review.rules import RULES_DIR, load_packs
from review.standards import Standards

COMPLEXITY_CONFIDENCE = 0.9


class ReviewInputError(ValueError):
    """The request cannot be reviewed as asked: its root is `missing`, a path is `outside`
    the root, git cannot give the `diff` (not a repository, unknown ref), or the
    `coverage` report cannot be read (only `acc review` takes one)."""

    def __init__(
        self, message: str, kind: Literal["missing", "outside", "diff", "coverage"]
    ) -> None:
        super().__init__(message)
        self.kind = kind


def review(
    request: ReviewRequest,
    *,
    standards: Standards | None = None,
    calibration: Mapping[str, float] | None = None,
    semgrep_binary: str | None = None,
    max_file_bytes: int = 1_000_000,
    timeout: float = 300.0,
    tick: Callable[[], None] | None = None,
    rules_dir: Path = RULES_DIR,
) -> Report:
    started = time.perf_counter()
    standards = standards or Standards()
    calibration = calibration or {}
    root = Path(request.root).expanduser()
    if not root.is_dir():
        raise ReviewInputError(f"root {request.root!r} is not a directory", "missing")
    root = root.resolve()
    try:
        found = targets.collect(root, request.paths, max_file_bytes)
    except targets.OutsideRoot as exc:
        raise ReviewInputError(f"{exc}: review paths under the root only", "outside") from None
    changed: dict[str, set[int]] | None = None
    if request.diff_ref is not None or request.staged:
        try:
            changed = diffs.changed_lines(root, request.diff_ref, request.staged)
        except diffs.DiffError as exc:
            raise ReviewInputError(str(exc), "diff") from None
        found.files = [f for f in found.files if targets.relative(root, f) in changed]
    categories = set(request.categories) & set(standards.categories)
    rules, raws = load_packs(rules_dir)
    chosen = [
        (rule, raw)
        for rule, raw in zip(rules, raws, strict=True)
        if standards.enabled(rule.id) and rule.category in categories
    ]
    by_id = {rule.id: (rule, raw) for rule, raw in chosen}
    # lizard (Python, in this process) measures while semgrep (another process) scans.
    with ThreadPoolExecutor(max_workers=1) as pool:
        measured = (
            pool.submit(complexity.measure, root, found.files) if "style" in categories else None
        )
        scan = semgrep.scan(
            [raw for _, raw in chosen],
            found.files,
            binary=semgrep_binary,
            timeout=timeout,
            on_output=tick,
        )
        functions, complexity_errors = measured.result() if measured else ([], [])
    report = Report(
        root=str(root),
        files=[targets.relative(root, f) for f in found.files],
        skipped=found.skipped,
        rules=len(chosen),
        diff_ref=request.diff_ref,
        staged=request.staged,
        semgrep_version=scan.version,
    )
    floor = max(SEVERITY_RANK[request.min_severity], SEVERITY_RANK[standards.min_severity])
    min_confidence = max(request.min_confidence, standards.min_confidence)
    sources: dict[Path, bytes] = {}
    suggestions: list[Suggestion] = []
    for match in scan.matches:
        if match.rule_id not in by_id:
            continue
        rule, raw = by_id[match.rule_id]
        path = match.path if match.path.is_absolute() else root / match.path
        rel = targets.relative(root, path.resolve())
        if changed is not None and not diffs.touches(
            changed.get(rel, set()), match.start_line, match.end_line
        ):
            continue
        if path not in sources:
            sources[path] = path.read_bytes()
        suggestion = _suggestion(rule, raw, match, rel, sources[path], standards, calibration)
        if SEVERITY_RANK[suggestion.severity] < floor or suggestion.confidence < min_confidence:
            continue
        suggestions.append(suggestion)
    if measured is not None:
        report.errors.extend(complexity_errors)
        report.complexity = functions
        for fn in functions:
            if changed is not None and not diffs.touches(
                changed.get(fn.path, set()), fn.line, fn.end_line
            ):
                continue
            suggestions.extend(_complexity(fn, standards, floor, min_confidence))
    for where, message in scan.errors:
        spot: str | None = None
        if where is not None:
            full = (where if where.is_absolute() else root / where).resolve()
            spot = targets.relative(root, full) if full.is_relative_to(root) else None
        if spot is not None and spot in report.files:
            first = message.strip().splitlines()[0] if message.strip() else message
            report.skipped.append(Skipped(path=spot, reason=f"partly parsed: {first[:200]}"))
        else:
            report.errors.append(message[:500])
    for s in suggestions:
        s.priority = coverage.base_priority(s)
    if request.coverage is not None:
        try:
            coverage.correlate(suggestions, coverage.load(Path(request.coverage), root))
        except coverage.CoverageError as exc:
            raise ReviewInputError(str(exc), "coverage") from None
        report.coverage = request.coverage
    report.suggestions = sorted(suggestions, key=lambda s: (s.path, s.line, s.column, s.rule_id))
    report.duration_ms = (time.perf_counter() - started) * 1000
    return report


def _suggestion(
    rule: Rule,
    raw: dict[str, Any],
    match: semgrep.Match,
    rel: str,
    source: bytes,
    standards: Standards,
    calibration: Mapping[str, float],
) -> Suggestion:
    snippet = source[match.start_offset : match.end_offset].decode(errors="replace")
    replacement = _replacement(raw, match, snippet)
    patch = None
    if replacement is not None and replacement != snippet:
        patch = patches.single(rel, source, match.start_offset, match.end_offset, replacement)
    else:
        replacement = None
    severity: Severity = standards.severity.get(rule.id, rule.severity)
    return Suggestion(
        id=Suggestion.make_id(rule.id, rel, snippet, match.start_line),
        rule_id=rule.id,
        category=rule.category,
        severity=severity,
        confidence=round(calibration.get(rule.id, rule.confidence), 4),
        path=rel,
        line=match.start_line,
        column=match.start_col,
        end_line=match.end_line,
        end_column=match.end_col,
        message=match.message or rule.message,
        explanation=rule.explanation,
        alternatives=rule.alternatives,
        cwe=rule.cwe,
        snippet=snippet,
        start_offset=match.start_offset,
        end_offset=match.end_offset,
        replacement=replacement,
        patch=patch,
    )


def _replacement(raw: dict[str, Any], match: semgrep.Match, snippet: str) -> str | None:
    regex = raw.get("fix-regex")
    if isinstance(regex, dict) and "regex" in regex:
        count = int(regex.get("count", 0))
        return re.sub(str(regex["regex"]), str(regex.get("replacement", "")), snippet, count=count)
    return match.fix


def _complexity(
    fn: FunctionComplexity, standards: Standards, floor: int, min_confidence: float
) -> list[Suggestion]:
    out: list[Suggestion] = []
    checks: list[tuple[str, int | None, int, str]] = [
        ("complexity.cyclomatic", fn.cyclomatic, standards.max_cyclomatic, "independent paths"),
        ("complexity.cognitive", fn.cognitive, standards.max_cognitive, "cognitive complexity"),
    ]
    for rule_id, value, limit, what in checks:
        if value is None or value <= limit or not standards.enabled(rule_id):
            continue
        severity: Severity = standards.severity.get(
            rule_id, "warning" if value <= 2 * limit else "error"
        )
        if SEVERITY_RANK[severity] < floor or min_confidence > COMPLEXITY_CONFIDENCE:
            continue
        out.append(
            Suggestion(
                id=Suggestion.make_id(rule_id, fn.path, fn.name, fn.line),
                rule_id=rule_id,
                category="style",
                severity=severity,
                confidence=COMPLEXITY_CONFIDENCE,
                path=fn.path,
                line=fn.line,
                end_line=fn.end_line,
                message=f"{fn.name} has {what} {value} (limit {limit})",
                explanation="Each branch is a path to test and to keep in mind while reading; "
                "past the limit, functions hide bugs and resist change.",
                alternatives=[
                    "Extract the branches into named helper functions.",
                    "Replace flag arguments and long if/elif chains with a lookup table.",
                    "Return early instead of nesting.",
                ],
            )
        )
    return out
