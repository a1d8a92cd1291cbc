"""A review as SARIF 2.1.0 (what GitHub code scanning and most IDEs read): one run, the
rules that fired as the driver's rules (with their CWE, category and confidence), each
suggestion a result with its location, its fix as a SARIF fix (an artifact change that
replaces the flagged region) and its confidence in `properties`."""

from __future__ import annotations

from typing import Any

from review.models import Report, Rule, Suggestion
from review.rules import rules_by_id

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}
INFORMATION_URI = "https://github.com/acc/acc/blob/main/docs/REVIEW.md"


def _rule(rule_id: str, rule: Rule | None, example: Suggestion) -> dict[str, Any]:
    tags = [example.category] + ([example.cwe] if example.cwe else [])
    entry: dict[str, Any] = {
        "id": rule_id,
        "name": rule_id.rsplit(".", 1)[-1],
        "shortDescription": {"text": rule.message if rule else example.message},
        "fullDescription": {"text": (rule.explanation if rule else example.explanation) or "-"},
        "defaultConfiguration": {"level": LEVEL[rule.severity if rule else example.severity]},
        "properties": {
            "category": example.category,
            "confidence": rule.confidence if rule else example.confidence,
            "tags": tags,
        },
    }
    if example.cwe:
        entry["properties"]["cwe"] = example.cwe
    return entry


def _result(s: Suggestion, index: int) -> dict[str, Any]:
    region: dict[str, Any] = {
        "startLine": s.line,
        "startColumn": s.column,
        "endLine": s.end_line,
        "endColumn": max(s.end_column, 1),
    }
    if s.snippet:
        region["snippet"] = {"text": s.snippet}
    result: dict[str, Any] = {
        "ruleId": s.rule_id,
        "ruleIndex": index,
        "level": LEVEL[s.severity],
        "message": {"text": s.message + (f" {s.explanation}" if s.explanation else "")},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": s.path, "uriBaseId": "%SRCROOT%"},
                    "region": region,
                }
            }
        ],
        "partialFingerprints": {"accReviewId/v1": s.id},
        "properties": {
            "confidence": s.confidence,
            "category": s.category,
            "alternatives": s.alternatives,
        },
    }
    if s.replacement is not None:
        deleted = {k: region[k] for k in ("startLine", "startColumn", "endLine", "endColumn")}
        result["fixes"] = [
            {
                "description": {"text": f"Replace with: {s.replacement}"},
                "artifactChanges": [
                    {
                        "artifactLocation": {"uri": s.path, "uriBaseId": "%SRCROOT%"},
                        "replacements": [
                            {
                                "deletedRegion": deleted,
                                "insertedContent": {"text": s.replacement},
                            }
                        ],
                    }
                ],
            }
        ]
    return result


def to_sarif(report: Report) -> dict[str, Any]:
    known = rules_by_id()
    order: dict[str, int] = {}
    rules: list[dict[str, Any]] = []
    for s in report.suggestions:
        if s.rule_id not in order:
            order[s.rule_id] = len(rules)
            rules.append(_rule(s.rule_id, known.get(s.rule_id), s))
    notifications = [
        {"level": "note", "message": {"text": f"skipped {item.path}: {item.reason}"}}
        for item in report.skipped
    ] + [{"level": "warning", "message": {"text": error}} for error in report.errors]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "acc review",
                        "informationUri": INFORMATION_URI,
                        "semanticVersion": "0.1.0",
                        "rules": rules,
                        "properties": {"semgrep": report.semgrep_version},
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": _file_uri(report.root)}},
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "results": [_result(s, order[s.rule_id]) for s in report.suggestions],
            }
        ],
    }


def _file_uri(root: str) -> str:
    return "file://" + root.rstrip("/") + "/"
