"""A team's standards: which rules run, at what severity, and the complexity thresholds.

A YAML (or JSON) file, ACC_REVIEW_STANDARDS_FILE or `.acc-review.yaml` at the reviewed root:

    disabled: [python.style.print-call, "javascript.style.*"]   # ids or globs
    severity: {python.security.weak-hash: error}                  # per rule
    categories: [security, correctness]                           # what to report
    min_severity: warning
    min_confidence: 0.3
    max_cyclomatic: 10
    max_cognitive: 15
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.jsontypes import Integer
from review.models import CATEGORIES, Category, Severity

STANDARDS_FILE = ".acc-review.yaml"


class StandardsError(ValueError):
    pass


class Standards(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    disabled: list[str] = Field(default_factory=list, description="Rule ids or globs")
    severity: dict[str, Severity] = Field(default_factory=dict, description="Rule -> severity")
    categories: list[Category] = Field(default_factory=lambda: list(CATEGORIES))
    min_severity: Severity = "info"
    min_confidence: float = Field(0.0, ge=0, le=1)
    max_cyclomatic: Integer = Field(10, ge=1, le=1000)
    max_cognitive: Integer = Field(15, ge=1, le=1000)

    def enabled(self, rule_id: str) -> bool:
        return not any(fnmatchcase(rule_id, pattern) for pattern in self.disabled)


def load(path: Path) -> Standards:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise StandardsError(f"{path}: cannot read the standards file: {exc}") from None
    if not isinstance(data, dict):
        raise StandardsError(f"{path}: the standards file must be a mapping")
    try:
        return Standards.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise StandardsError(f"{path}: {where}: {first['msg']}") from None


def for_root(root: Path, configured: Path | None = None) -> Standards:
    """The configured file, else the root's own `.acc-review.yaml`, else the defaults."""
    if configured is not None:
        return load(configured)
    own = root / STANDARDS_FILE
    return load(own) if own.is_file() else Standards()
