"""Reading agents' answers: scores (quality gates, best-score reducers) and votes.

Pure functions, so workflows can call them and tests can pin their behaviour.
"""

from __future__ import annotations

import json
import re

NUMBER = re.compile(r"[-+]?\d*\.?\d+")


def parse_score(text: str) -> tuple[float, str]:
    """A 0..1 score and feedback from `{"score": 0.8, "feedback": "..."}` or the first number
    in the text (percentages over 1 are divided by 100). No number scores 0."""
    stripped = text.strip()
    try:
        data = json.loads(stripped)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("score"), int | float):
        return _clamp(float(data["score"])), str(data.get("feedback", ""))
    match = NUMBER.search(stripped)
    if match is None:
        return 0.0, stripped
    value = float(match.group())
    feedback = (stripped[: match.start()] + stripped[match.end() :]).strip(" \n:-")
    return _clamp(value / 100 if value > 1 else value), feedback


def parse_vote(text: str, choices: list[str]) -> str | None:
    """The proposal id an agent voted for: `{"vote": "p2"}` or the first valid id in the text."""
    stripped = text.strip()
    try:
        data = json.loads(stripped)
    except ValueError:
        data = None
    if isinstance(data, dict) and str(data.get("vote")) in choices:
        return str(data.get("vote"))
    tokens: list[str] = re.findall(r"[A-Za-z0-9_-]+", stripped)
    return next((token for token in tokens if token in choices), None)


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))
