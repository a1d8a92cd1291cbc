"""What a review produces: suggestions (findings with confidence, explanation and fix),
skipped files with their reason, complexity per function, and the request that made it."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, Field

Severity = Literal["error", "warning", "info"]
Category = Literal["security", "correctness", "performance", "style"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2}
CATEGORIES: tuple[Category, ...] = ("security", "correctness", "performance", "style")


class Rule(BaseModel):
    """One shipped rule, as its pack declares it."""

    id: str
    category: Category
    severity: Severity
    confidence: float = Field(ge=0, le=1, description="Prior probability a finding is right")
    message: str
    explanation: str = ""
    alternatives: list[str] = Field(default_factory=list)
    cwe: str | None = None
    languages: list[str] = Field(default_factory=list)
    has_fix: bool = False
    pack: str = ""


class Suggestion(BaseModel):
    """A finding turned into advice: where, why, how sure, and the fix when there is one."""

    id: str = Field(description="Stable across runs: rule, path, and the flagged text")
    rule_id: str
    category: Category
    severity: Severity
    confidence: float = Field(ge=0, le=1)
    path: str = Field(description="Relative to the reviewed root, with / separators")
    line: int
    column: int = 1
    end_line: int
    end_column: int = 1
    message: str
    explanation: str = ""
    alternatives: list[str] = Field(default_factory=list)
    cwe: str | None = None
    snippet: str = ""
    start_offset: int | None = None
    end_offset: int | None = None
    replacement: str | None = Field(None, description="The fixed text for [start, end)")
    patch: str | None = Field(None, description="This fix alone, as a git-apply-able diff")
    covered: bool | None = Field(
        None, description="Tests run the flagged lines (None: no coverage report, or no data)"
    )
    priority: int = Field(
        0,
        ge=0,
        le=4,
        description="Severity (info 1, warning 2, error 3), +1 when tests never run the "
        "lines, -1 when they do",
    )

    @staticmethod
    def make_id(rule_id: str, path: str, snippet: str, line: int) -> str:
        text = f"{rule_id}\0{path}\0{snippet.strip() or line}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class Skipped(BaseModel):
    path: str
    reason: str


class FunctionComplexity(BaseModel):
    path: str
    name: str
    line: int
    end_line: int
    cyclomatic: int
    cognitive: int | None = None
    nloc: int
    parameters: int = 0


class ReviewRequest(BaseModel):
    """What to review: paths under a root, optionally only what a git diff touched."""

    root: str
    paths: list[str] = Field(default_factory=lambda: ["."])
    diff_ref: str | None = Field(None, description="Review only lines changed since this ref")
    staged: bool = Field(False, description="Review only the lines staged for commit")
    categories: list[Category] = Field(default_factory=lambda: list(CATEGORIES))
    min_severity: Severity = "info"
    min_confidence: float = Field(0.0, ge=0, le=1)
    coverage: str | None = Field(None, description="A Cobertura coverage.xml to correlate")


class Report(BaseModel):
    """The result of one review."""

    root: str
    files: list[str] = Field(default_factory=list, description="Files reviewed")
    suggestions: list[Suggestion] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)
    complexity: list[FunctionComplexity] = Field(default_factory=list)
    rules: int = 0
    diff_ref: str | None = None
    staged: bool = False
    semgrep_version: str = ""
    duration_ms: float = 0.0
    errors: list[str] = Field(default_factory=list, description="Problems semgrep reported")
    coverage: str | None = Field(None, description="The coverage report the review read")
    llm_model: str | None = Field(None, description="The model of the LLM pass, when one ran")

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.suggestions:
            out[s.severity] = out.get(s.severity, 0) + 1
        return out
