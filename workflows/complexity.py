"""Task-complexity analysis: how many workers the supervisor spawns, with which capability.

Pure and deterministic (it runs inside workflows and in `acc run --dry-run`). A manager's
plan is JSON (`{"subtasks": [{"task": ..., "capability": ...}]}` or a list of strings) or
plain lines (bullets and numbers are stripped). Each subtask gets:

- a capability: the one the manager named if a worker has it; else the first worker
  capability whose keywords (or its own name) appear in the text as words; else `default`
  (or the first worker);
- a complexity in 0..1: 0.15 + 0.004 per word (up to 0.4) + 0.1 per heavy keyword
  (up to 0.4) + 0.05 per listed item (up to 0.2), capped at 1.

One worker per subtask, most complex first. When a plan has more subtasks than the spawn
limit, the simplest subtasks are merged into shared workers until the plan fits: the run
degrades (fewer, larger workers) instead of failing, and says so in its notes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

# Whole words (a trailing s, es, d, ed or ing is allowed): "latest" is not about testing and
# "Build" is not a UI task because both happen to contain a keyword.
HEAVY = (
    "refactor",
    "migrate",
    "migration",
    "concurrency",
    "concurrent",
    "security",
    "database",
    "schema",
    "performance",
    "distributed",
    "architecture",
    "async",
    "protocol",
    "algorithm",
)
CAPABILITY_KEYWORDS: dict[str, tuple[str, ...]] = {
    "testing": ("test", "tests", "testing", "pytest", "unittest", "coverage", "spec"),
    "review": ("review", "audit", "lint"),
    "docs": ("doc", "docs", "documentation", "document", "readme", "changelog", "guide"),
    "security": ("security", "vulnerability", "vulnerabilities", "cve", "secret"),
    "frontend": ("ui", "frontend", "css", "react", "page", "component"),
    "backend": ("api", "endpoint", "server", "database"),
}
BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
FENCED = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


@dataclass(frozen=True)
class Assignment:
    task: str
    capability: str
    complexity: float
    reasons: tuple[str, ...] = ()


@dataclass
class Plan:
    assignments: list[Assignment]
    notes: list[str] = field(default_factory=list)


def mentions(text: str, keyword: str) -> bool:
    """Whether `text` has `keyword` as a word of its own (ending in s, es, d, ed, ing too)."""
    word = rf"\b{re.escape(keyword)}(?:s|es|d|ed|ing)?\b"
    return re.search(word, text, re.IGNORECASE) is not None


def complexity(task: str) -> tuple[float, tuple[str, ...]]:
    words = len(task.split())
    heavy = [k for k in HEAVY if mentions(task, k)]
    items = sum(1 for line in task.splitlines() if BULLET.match(line))
    score = 0.15 + min(0.4, words * 0.004) + min(0.4, 0.1 * len(heavy)) + min(0.2, 0.05 * items)
    reasons = (f"{words} words", *(f"'{k}'" for k in heavy))
    return round(min(1.0, score), 3), reasons


def capability_for(task: str, named: str | None, capabilities: list[str]) -> str:
    if named and named in capabilities:
        return named
    for capability in capabilities:
        keywords = (*CAPABILITY_KEYWORDS.get(capability, ()), capability)
        if capability != "default" and any(mentions(task, k) for k in keywords):
            return capability
    return "default" if "default" in capabilities else capabilities[0]


def parse_subtasks(text: str) -> list[tuple[str, str | None]]:
    """(task, capability the manager named) pairs from a plan: JSON (the whole text, a
    fenced block, or the JSON inside prose), else one subtask per non-empty line."""
    data = _json_plan(text)
    if data is not None:
        out: list[tuple[str, str | None]] = []
        for item in data:
            if isinstance(item, str) and item.strip():
                out.append((item.strip(), None))
            elif isinstance(item, dict) and str(item.get("task", "")).strip():
                cap = item.get("capability")
                out.append((str(item["task"]).strip(), str(cap) if cap else None))
        return out
    lines = [BULLET.sub("", line).strip() for line in text.splitlines()]
    return [(line, None) for line in lines if line and not line.startswith("```")]


def _json_plan(text: str) -> list[object] | None:
    candidates = [text, *FENCED.findall(text)]
    for opening, closing in ("{}", "[]"):
        if opening in text and closing in text:
            candidates.append(text[text.index(opening) : text.rindex(closing) + 1])
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        items = data.get("subtasks", data.get("tasks")) if isinstance(data, dict) else data
        if isinstance(items, list) and all(isinstance(i, str | dict) for i in items):
            return items
    return None


def plan(text: str, capabilities: list[str], limit: int) -> Plan:
    subtasks = parse_subtasks(text)
    if not subtasks:
        return Plan([], ["the manager's plan has no subtasks"])
    assignments = []
    for task, named in subtasks:
        score, reasons = complexity(task)
        assignments.append(
            Assignment(task, capability_for(task, named, capabilities), score, reasons)
        )
    assignments.sort(key=lambda a: -a.complexity)
    result = Plan(assignments)
    if len(assignments) > limit:
        result = _degrade(assignments, limit)
    result.notes.insert(
        0,
        f"spawning {len(result.assignments)} worker(s): "
        + ", ".join(f"{a.capability} ({a.complexity:.2f})" for a in result.assignments),
    )
    return result


def _degrade(assignments: list[Assignment], limit: int) -> Plan:
    """Merge the simplest subtasks into the same worker (round-robin over the kept ones)."""
    kept = [list([a]) for a in assignments[:limit]]
    for n, extra in enumerate(assignments[limit:]):
        kept[limit - 1 - (n % limit)].append(extra)
    merged = [
        Assignment(
            task="\n\n".join(a.task for a in group),
            capability=group[0].capability,
            complexity=min(1.0, round(sum(a.complexity for a in group), 3)),
            reasons=tuple(r for a in group for r in a.reasons),
        )
        for group in kept
    ]
    note = f"spawn limit {limit} reached: {len(assignments)} subtasks merged into {limit} workers"
    return Plan(merged, [note])
