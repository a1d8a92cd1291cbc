"""Reading reviewers' scores: the forms a reviewer (a model or a script) really writes, the
ones that used to be misread, refusals, and properties over generated answers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows.scoring import SCORE_REQUEST, parse_score, parse_vote, read_score

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("Score: 8/10", 0.8),  # read as 0.08 before
        ("4.5 out of 5", 0.9),  # 0.045 before
        ("checked 3 subtasks; overall 0.9", 0.9),  # 0.03 before
        ("0.75", 0.75),
        ("1", 1.0),
        ("0", 0.0),
        ("7", 0.7),
        ("85%", 0.85),
        ("I'd rate it 85% complete.", 0.85),
        ("**Score:** 7/10 — tests are missing", 0.7),
        ("Quality score: 0.6\nFeedback: handle empty input", 0.6),
        ("rating = 9 out of 10", 0.9),
        ("Overall: 92", 0.92),
        ("The code works. 3 of the 4 edge cases pass; final answer 0.75.", 0.75),
        ('{"score": 0.82, "feedback": "good"}', 0.82),
        ('{"score": 8, "feedback": "good"}', 0.8),
        ('{"score": "8/10"}', 0.8),
        ('{"rating": 90}', 0.9),
        ('Here you go:\n```json\n{"score": 0.4, "feedback": "no tests"}\n```', 0.4),
        ('Verdict {"score": 0.3, "feedback": "bug in parse()"} end', 0.3),
    ],
)
def test_scores_as_reviewers_write_them(text: str, score: float) -> None:
    assert parse_score(text)[0] == pytest.approx(score)


@pytest.mark.parametrize(
    "text",
    [
        '{"score": true}',  # read as 1.0 before
        '{"score": false, "feedback": "x"}',
        '{"score": null}',
        '{"score": [0.5]}',
        '{"score": "great"}',
        "looks good to me",
        "checked 3 subtasks, 2 files changed",
        "Score: 11/10",
        "Score: -0.5",
        "Score: 250",
        "4 out of 0",
        "",
    ],
)
def test_booleans_and_nonsense_are_refused_and_fail_closed(text: str) -> None:
    assert read_score(text) is None
    assert parse_score(text) == (0.0, text.strip())


def test_feedback_comes_with_the_score() -> None:
    assert parse_score('{"score": 0.5, "feedback": "add docs"}') == (0.5, "add docs")
    assert parse_score('{"score": 0.5, "reason": "add docs"}') == (0.5, "add docs")
    assert parse_score("Score: 6/10\nFeedback: add docs") == (0.6, "Feedback: add docs")
    assert parse_score("0.9") == (0.9, "")


def test_the_request_a_gate_adds_to_its_prompt_is_answered_in_a_form_it_reads() -> None:
    assert "JSON" in SCORE_REQUEST and '"score"' in SCORE_REQUEST
    answer = json.dumps({"score": 0.65, "feedback": "edge cases"})
    assert parse_score(answer) == (0.65, "edge cases")


@given(st.integers(0, 100), st.integers(1, 100))
def test_fractions_divide(part: int, whole: int) -> None:
    text = f"Score: {part}/{whole}"
    expected = part / whole if part <= whole else None
    score = read_score(text)
    assert (score.value if score else None) == (pytest.approx(expected) if expected else expected)


@given(st.integers(0, 20), st.integers(1, 20))
def test_out_of_divides(part: int, whole: int) -> None:
    score = read_score(f"The work earns {part} out of {whole}.")
    assert (score is None) == (part > whole)
    if score is not None:
        assert score.value == pytest.approx(part / whole)


@given(st.integers(0, 100))
def test_percentages_divide_by_a_hundred(percent: int) -> None:
    assert parse_score(f"{percent}%")[0] == pytest.approx(percent / 100)


@given(st.floats(0, 1, allow_nan=False), st.text(max_size=40))
def test_json_scores_in_range_are_taken_as_they_are(value: float, feedback: str) -> None:
    assert parse_score(json.dumps({"score": value, "feedback": feedback})) == (value, feedback)


@given(st.integers(1, 9), st.floats(0, 1, allow_nan=False).map(lambda v: round(v, 2)))
def test_a_labelled_score_wins_over_counts_before_it(count: int, value: float) -> None:
    text = f"Checked {count} subtasks and {count + 1} files; overall {value:.2f}"
    assert parse_score(text)[0] == pytest.approx(value)


@given(st.text(max_size=200))
def test_any_text_gives_a_score_in_range_or_none(text: str) -> None:
    score = read_score(text)
    assert score is None or 0 <= score.value <= 1
    value, _ = parse_score(text)
    assert 0 <= value <= 1


@given(st.booleans(), st.sampled_from(["score", "quality", "rating", "overall"]))
def test_booleans_are_never_scores(flag: bool, key: str) -> None:
    assert read_score(json.dumps({key: flag})) is None


def test_votes() -> None:
    assert parse_vote('{"vote": "p2"}', ["p1", "p2"]) == "p2"
    assert parse_vote("I pick p1 because", ["p1", "p2"]) == "p1"
    assert parse_vote("none of these", ["p1", "p2"]) is None
