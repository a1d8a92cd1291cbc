"""The optional LLM pass: a model reads the reviewed files with the rules' findings and
adds what rules cannot see (a wrong condition, a missed edge case, a misleading name).

This module builds the request and reads the answer; the call itself goes through the llm
backend (agents/backends/llm.py, `cli/review_llm.py` wires it). The model is asked for a
JSON array; each item becomes a suggestion with rule id `llm.<category>`, a fixed
confidence of LLM_CONFIDENCE (a model's remarks are less certain than a taint rule's), and
no fix. An item is dropped when it names a file that was not reviewed, a line the file
does not have, a line a rule already flagged, or (in incremental mode) a line the diff
did not touch. Whatever the model answers, the rule-based review stays as it was."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from review import diffs
from review.models import CATEGORIES, SEVERITY_RANK, Report, Suggestion

LLM_CONFIDENCE = 0.5
MAX_FILE_CHARS = 40_000
SYSTEM = (
    "You are a careful senior code reviewer. Static analysis rules already ran; their "
    "findings are listed. Add only problems they missed that you are confident about: bugs, "
    "security issues, performance traps, unclear code. Answer with a JSON array and nothing "
    'else; each item: {"path": str, "line": int, "category": "security"|"correctness"|'
    '"performance"|"style", "severity": "error"|"warning"|"info", "message": str, '
    '"explanation": str}. Answer [] when there is nothing to add.'
)
ARRAY = re.compile(r"\[.*\]", re.DOTALL)


def files_for(report: Report, limit: int) -> list[str]:
    """The files the pass reads: those with findings first, at most `limit`."""
    flagged = list(dict.fromkeys(s.path for s in report.suggestions))
    rest = [f for f in report.files if f not in flagged]
    return (flagged + rest)[:limit]


def prompt(report: Report, paths: list[str]) -> str:
    """The user message: each file with numbered lines, then the findings on it."""
    root = Path(report.root)
    parts: list[str] = []
    for path in paths:
        try:
            text = (root / path).read_text(errors="replace")[:MAX_FILE_CHARS]
        except OSError:
            continue
        numbered = "\n".join(f"{n:>5} | {line}" for n, line in enumerate(text.splitlines(), 1))
        found = [
            f"- line {s.line}: {s.rule_id} ({s.severity}): {s.message}"
            for s in report.suggestions
            if s.path == path
        ]
        parts.append(
            f"File {path}:\n{numbered}\n\nFindings already reported in {path}:\n"
            + ("\n".join(found) if found else "- none")
        )
    return "\n\n".join(parts)


def parse(
    reply: str, report: Report, paths: list[str], changed: dict[str, set[int]] | None = None
) -> tuple[list[Suggestion], int]:
    """The model's suggestions that hold up, and how many items were dropped."""
    match = ARRAY.search(reply)
    if match is None:
        return [], 0
    try:
        items = json.loads(match.group(0))
    except ValueError:
        return [], 0
    if not isinstance(items, list):
        return [], 0
    root = Path(report.root)
    taken = {(s.path, n) for s in report.suggestions for n in range(s.line, s.end_line + 1)}
    lengths: dict[str, int] = {}
    out: list[Suggestion] = []
    for item in items:
        suggestion = _suggestion(item, paths, root, lengths)
        if suggestion is None or (suggestion.path, suggestion.line) in taken:
            continue
        if changed is not None and not diffs.touches(
            changed.get(suggestion.path, set()), suggestion.line, suggestion.line
        ):
            continue
        taken.add((suggestion.path, suggestion.line))
        out.append(suggestion)
    return out, len(items) - len(out)


def _suggestion(
    item: Any, paths: list[str], root: Path, lengths: dict[str, int]
) -> Suggestion | None:
    if not isinstance(item, dict):
        return None
    path, line, message = item.get("path"), item.get("line"), item.get("message")
    category, severity = item.get("category"), item.get("severity", "info")
    if path not in paths or not isinstance(line, int) or not isinstance(message, str):
        return None
    if category not in CATEGORIES or severity not in SEVERITY_RANK or not message.strip():
        return None
    if path not in lengths:
        lengths[path] = len((root / path).read_text(errors="replace").splitlines())
    if not 1 <= line <= lengths[path]:
        return None
    explanation = item.get("explanation")
    rule_id = f"llm.{category}"
    return Suggestion(
        id=Suggestion.make_id(rule_id, path, message, line),
        rule_id=rule_id,
        category=category,
        severity=severity,
        confidence=LLM_CONFIDENCE,
        path=path,
        line=line,
        end_line=line,
        message=message.strip()[:1000],
        explanation=explanation.strip()[:2000] if isinstance(explanation, str) else "",
        priority=SEVERITY_RANK[severity] + 1,
    )
