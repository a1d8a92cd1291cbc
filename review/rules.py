"""The shipped rule packs: `review/rules/<category>/<language>.yaml`, each rule with
`metadata.category`, `metadata.confidence` (the prior), `metadata.cwe` where it applies, an
explanation and alternatives; each pack has a test file beside it (`# ruleid:` / `# ok:`)
that `semgrep --test` checks (tests/unit/review/test_rule_packs.py)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from review.models import Rule, Severity

RULES_DIR = Path(__file__).parent / "rules"
_SEVERITY: dict[str, Severity] = {
    "ERROR": "error",
    "WARNING": "warning",
    "INFO": "info",
    "CRITICAL": "error",
    "HIGH": "error",
    "MEDIUM": "warning",
    "LOW": "info",
}


class RulePackError(ValueError):
    pass


def pack_files(root: Path = RULES_DIR) -> list[Path]:
    return sorted(root.glob("*/*.yaml"))


def _rule(raw: dict[str, Any], pack: str) -> Rule:
    meta = raw.get("metadata") or {}
    rule_id = str(raw.get("id", ""))
    try:
        return Rule(
            id=rule_id,
            category=meta["category"],
            severity=_SEVERITY[str(raw["severity"]).upper()],
            confidence=float(meta["confidence"]),
            message=str(raw["message"]).strip(),
            explanation=str(meta.get("explanation", "")).strip(),
            alternatives=[str(a) for a in meta.get("alternatives", [])],
            cwe=meta.get("cwe"),
            languages=[str(lang) for lang in raw.get("languages", [])],
            has_fix="fix" in raw or "fix-regex" in raw,
            pack=pack,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise RulePackError(f"{pack}: rule {rule_id or '?'}: bad or missing {exc}") from None


@cache
def load_packs(root: Path = RULES_DIR) -> tuple[tuple[Rule, ...], tuple[dict[str, Any], ...]]:
    """Every shipped rule (ours) and its raw semgrep form, in pack order."""
    rules: list[Rule] = []
    raws: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in pack_files(root):
        pack = path.relative_to(root).with_suffix("").as_posix()
        data = yaml.safe_load(path.read_text()) or {}
        for raw in data.get("rules", []):
            rule = _rule(raw, pack)
            if rule.id in seen:
                raise RulePackError(f"{pack}: rule id {rule.id} is used twice")
            seen.add(rule.id)
            rules.append(rule)
            raws.append(raw)
    return tuple(rules), tuple(raws)


def rules_by_id(root: Path = RULES_DIR) -> dict[str, Rule]:
    return {rule.id: rule for rule in load_packs(root)[0]}
