"""Task-complexity analysis: how many workers the supervisor spawns, with which capability.

Pure and deterministic (it runs inside workflows and in `acc run --dry-run`). A manager's
plan is JSON (`{"subtasks": [{"task": ..., "capability": ...}]}` or a list of strings) or
plain lines (bullets and numbers are stripped). Each subtask gets:

- a capability: the one the manager named if a worker has it; else the first worker
  capability whose keywords appear in the text; else `default` (or the first worker);
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

HEAVY = (
    "refactor",
    "migrate",
    "migration",
    "concurren",
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
    "testing": ("test", "pytest", "coverage", "spec"),
    "review": ("review", "audit", "lint"),
    "docs": ("doc", "readme", "changelog", "guide"),
    "security": ("security", "vulnerab", "cve", "secret"),
    "frontend": ("ui", "frontend", "css", "react", "page"),
    "backend": ("api", "endpoint", "server", "database"),
}
BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


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


def complexity(task: str) -> tuple[float, tuple[str, ...]]:
    words = len(task.split())
    lower = task.lower()
    heavy = [k for k in HEAVY if k in lower]
    items = sum(1 for line in task.splitlines() if BULLET.match(line))
    score = 0.15 + min(0.4, words * 0.004) + min(0.4, 0.1 * len(heavy)) + min(0.2, 0.05 * items)
    reasons = (f"{words} words", *(f"'{k}'" for k in heavy))
    return round(min(1.0, score), 3), reasons


def capability_for(task: str, named: str | None, capabilities: list[str]) -> str:
    if named and named in capabilities:
        return named
    lower = task.lower()
    for capability in capabilities:
        keywords = (*CAPABILITY_KEYWORDS.get(capability, ()), capability.lower())
        if capability != "default" and any(k in lower for k in keywords):
            return capability
    return "default" if "default" in capabilities else capabilities[0]


def parse_subtasks(text: str) -> list[tuple[str, str | None]]:
    """(task, capability the manager named) pairs from a plan."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        data = data.get("subtasks", data.get("tasks"))
    if isinstance(data, list):
        out: list[tuple[str, str | None]] = []
        for item in data:
            if isinstance(item, str) and item.strip():
                out.append((item.strip(), None))
            elif isinstance(item, dict) and str(item.get("task", "")).strip():
                cap = item.get("capability")
                out.append((str(item["task"]).strip(), str(cap) if cap else None))
        return out
    lines = [BULLET.sub("", line).strip() for line in text.splitlines()]
    return [(line, None) for line in lines if line]


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
