"""Reading agents' answers: scores (quality gates, best-score reducers) and votes.

Pure functions, so workflows can call them and tests can pin their behaviour.

A score is read, in this order, from:
1. JSON (the whole answer, a fenced ```json block, or the first {...} in it) with a
   `score` (or `quality`, `rating`, `overall`) that is a number or a string like "8/10",
   and `feedback` (or `reason`, `comments`);
2. a number right after a label: "Score: 8/10", "overall 0.9", "rating = 85%";
3. the answer being nothing but a number;
4. the first fraction ("8/10"), "4.5 out of 5" or percentage ("85%") in the text;
5. the first decimal between 0 and 1 written with a point ("0.75").

Fractions and "out of" divide; percentages divide by 100; a lone number above 1 is read as
out of 10 up to 10 and as a percentage up to 100. Anything else is refused rather than
guessed: booleans (`{"score": true}`), negative numbers, a numerator over its denominator,
numbers above 100, and prose whose only numbers are counts ("checked 3 subtasks"). A refused
answer scores 0 and keeps its whole text as the feedback, so a quality gate fails closed and
the next iteration sees what the reviewer said. `SCORE_REQUEST` is the sentence a gate's own
prompt adds to ask a reviewer for the JSON form.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

SCORE_REQUEST = (
    'Answer with JSON only: {"score": <a number from 0 to 1>, "feedback": "<what is missing '
    'or wrong, in a few sentences>"}.'
)
SCORE_KEYS = ("score", "quality", "rating", "overall")
FEEDBACK_KEYS = ("feedback", "reason", "comments", "comment")
LABELS = r"score|quality|rating|overall|grade"
_NUMBER = r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)"
_EDGE_BEFORE = r"(?<![\w.])"
_EDGE_AFTER = r"(?![\w.]*\w)"
FRACTION = re.compile(rf"{_EDGE_BEFORE}({_NUMBER})\s*/\s*({_NUMBER}){_EDGE_AFTER}")
OUT_OF = re.compile(rf"{_EDGE_BEFORE}({_NUMBER})\s+out\s+of\s+({_NUMBER}){_EDGE_AFTER}", re.I)
PERCENT = re.compile(rf"{_EDGE_BEFORE}({_NUMBER})\s*%")
DECIMAL = re.compile(rf"{_EDGE_BEFORE}({_NUMBER}){_EDGE_AFTER}")
_SCORE_FORM = rf"{_NUMBER}(?:\s*/\s*{_NUMBER}|\s+out\s+of\s+{_NUMBER}|\s*%)?"
# "Score: 8/10", "overall - 0.9", "rating is 85%"; a dash must stand apart ("Score: -1").
LABELLED = re.compile(
    rf"\b(?:{LABELS})\b[\s*_:=]*(?:[-\u2013\u2014]\s+)?(?:is\s+|of\s+)?(?P<value>{_SCORE_FORM})",
    re.I,
)
FENCED = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


@dataclass(frozen=True)
class Score:
    value: float  # 0..1
    feedback: str


def parse_score(text: str) -> tuple[float, str]:
    """A 0..1 score and the feedback; 0 and the whole text when no score can be read."""
    score = read_score(text)
    return (score.value, score.feedback) if score is not None else (0.0, text.strip())


def read_score(text: str) -> Score | None:
    """The score in an agent's answer (see the module docstring), or None."""
    stripped = text.strip()
    data = _json_object(stripped)
    if data is not None and any(key in data for key in SCORE_KEYS):
        return _from_json(data)
    if match := LABELLED.search(stripped):
        value = _value(match.group("value"))
        return None if value is None else Score(value, _without(stripped, match))
    if (alone := _number(stripped)) is not None:
        value = _lone(alone)
        return None if value is None else Score(value, "")
    for pattern in (FRACTION, OUT_OF, PERCENT):
        if match := pattern.search(stripped):
            value = _value(match.group(0))
            return None if value is None else Score(value, _without(stripped, match))
    for match in DECIMAL.finditer(stripped):
        value = _number(match.group(1)) if "." in match.group(1) else None
        if value is not None and 0 <= value <= 1:
            return Score(value, _without(stripped, match))
    return None


def _from_json(data: dict[str, Any]) -> Score | None:
    raw = next(data[key] for key in SCORE_KEYS if key in data)
    feedback = next((data[k] for k in FEEDBACK_KEYS if isinstance(data.get(k), str)), "")
    if isinstance(raw, bool):  # a bool is an int to Python, but never a score
        return None
    if isinstance(raw, int | float):
        value = _lone(float(raw))
    elif isinstance(raw, str):
        value = _value(raw.strip())
    else:
        value = None
    return None if value is None else Score(value, str(feedback))


def _value(text: str) -> float | None:
    """A score from "8/10", "4.5 out of 5", "85%" or a lone number."""
    if match := FRACTION.fullmatch(text) or OUT_OF.fullmatch(text):
        part, whole = _number(match.group(1)), _number(match.group(2))
        if part is None or whole is None or whole <= 0 or not 0 <= part <= whole:
            return None
        return part / whole
    if match := re.fullmatch(rf"({_NUMBER})\s*%", text):
        percent = _number(match.group(1))
        return percent / 100 if percent is not None and 0 <= percent <= 100 else None
    number = _number(text)
    return None if number is None else _lone(number)


def _lone(number: float) -> float | None:
    """A number on its own: 0..1 as is, up to 10 as out of 10, up to 100 as a percentage."""
    if math.isnan(number) or number < 0 or number > 100:
        return None
    if number <= 1:
        return number
    return number / 10 if number <= 10 else number / 100


def _number(text: str) -> float | None:
    if not re.fullmatch(_NUMBER, text.strip()):
        return None
    return float(text)


def _json_object(text: str) -> dict[str, Any] | None:
    candidates = [text, *FENCED.findall(text)]
    if "{" in text and "}" in text:
        candidates.append(text[text.index("{") : text.rindex("}") + 1])
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict):
            return data
    return None


def _without(text: str, match: re.Match[str]) -> str:
    return (text[: match.start()] + text[match.end() :]).strip(" \n:-*=.,;")


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
