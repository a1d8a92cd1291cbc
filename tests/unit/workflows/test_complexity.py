"""The supervisor's task-complexity analyzer on task lists as managers write them: keywords
match words (not pieces of words), plans come as JSON, fenced JSON or lines, and a plan over
the spawn limit degrades into fewer workers."""

from __future__ import annotations

import pytest

from workflows.complexity import capability_for, complexity, mentions, parse_subtasks, plan

pytestmark = pytest.mark.unit
WORKERS = ["default", "testing", "docs", "frontend", "backend", "security", "review"]


@pytest.mark.parametrize(
    ("task", "capability"),
    [
        ("Build the release artifacts", "default"),  # "Build" holds "ui": not frontend
        ("Upgrade to the latest version of requests", "default"),  # "latest" holds "test"
        ("Guide users through the build", "docs"),
        ("Write unit tests for slugify()", "testing"),
        ("Run pytest and fix failures", "testing"),
        ("Raise coverage of the parser to 90%", "testing"),
        ("Document the new flag in the README", "docs"),
        ("Update the changelog", "docs"),
        ("Fix the UI glitch on the settings page", "frontend"),
        ("Style the login form with CSS", "frontend"),
        ("Add a /health endpoint to the API", "backend"),
        ("Rotate the leaked secret and audit access", "security"),
        ("Check for known CVEs in dependencies", "security"),
        ("Lint the codebase", "review"),
        ("Quietly guilty suitcase", "default"),  # "ui" inside every word, no UI task
        ("Contest the outcome", "default"),  # "test" inside a word
        ("Adopt the documentary style", "default"),  # "doc" inside a word
    ],
)
def test_capabilities_come_from_words_not_pieces_of_words(task: str, capability: str) -> None:
    assert capability_for(task, None, WORKERS) == capability


def test_the_capability_the_manager_named_wins_when_a_worker_has_it() -> None:
    assert capability_for("Write tests", "docs", WORKERS) == "docs"
    assert capability_for("Write tests", "mobile", WORKERS) == "testing"
    assert capability_for("Anything", None, ["coder", "tester"]) == "coder"


def test_a_workers_own_name_is_a_keyword() -> None:
    assert capability_for("Ask the translator for French", None, ["default", "translator"]) == (
        "translator"
    )


@pytest.mark.parametrize(
    ("text", "word", "found"),
    [
        ("Refactor the parser", "refactor", True),
        ("refactoring the parser", "refactor", True),
        ("the tests pass", "test", True),
        ("it migrated cleanly", "migrate", True),
        ("migrates cleanly", "migrate", True),
        ("asynchronous code", "async", False),
        ("async code", "async", True),
    ],
)
def test_mentions(text: str, word: str, found: bool) -> None:
    assert mentions(text, word) is found


def test_heavy_words_raise_complexity_only_as_words() -> None:
    plain, _ = complexity("Rename a variable")
    heavy, reasons = complexity("Refactor the database schema for performance")
    assert heavy > plain
    assert reasons == ("6 words", "'refactor'", "'database'", "'schema'", "'performance'")
    # "asynchronously" and "schemas-free" are not the heavy words.
    assert complexity("Call it asynchronously")[1] == ("3 words",)


def test_a_plan_as_json_fenced_json_prose_or_lines() -> None:
    json_plan = '{"subtasks": [{"task": "add tests", "capability": "testing"}, "write docs"]}'
    assert parse_subtasks(json_plan) == [("add tests", "testing"), ("write docs", None)]
    fenced = f"Here is the plan:\n```json\n{json_plan}\n```\nGood luck."
    assert parse_subtasks(fenced) == parse_subtasks(json_plan)
    prose = f"Plan follows {json_plan} as requested"
    assert parse_subtasks(prose) == parse_subtasks(json_plan)
    lines = "1. Implement slugify\n2) Test it\n- Document it\n\n```\n"
    assert parse_subtasks(lines) == [
        ("Implement slugify", None),
        ("Test it", None),
        ("Document it", None),
    ]
    # JSON that is not a plan (a list of numbers in a line) leaves the lines as they are.
    assert parse_subtasks("Sort [3, 1, 2]\nPrint it") == [
        ("Sort [3, 1, 2]", None),
        ("Print it", None),
    ]


def test_a_real_looking_plan_is_assigned_and_ordered_by_complexity() -> None:
    text = """Plan:
- Build the CLI entry point
- Write pytest tests for the latest parser changes
- Refactor the database schema migration for concurrency
- Update the README with the new flags
"""
    result = plan(text, WORKERS, limit=8)
    assignments = [(a.capability, a.task.split()[0]) for a in result.assignments]
    assert assignments[0] == ("backend", "Refactor")  # the heaviest first
    assert sorted(assignments) == [
        ("backend", "Refactor"),
        ("default", "Build"),
        ("default", "Plan:"),
        ("docs", "Update"),
        ("testing", "Write"),
    ]
    assert result.notes[0].startswith("spawning 5 worker(s): backend")


def test_a_plan_over_the_spawn_limit_degrades_into_fewer_workers() -> None:
    tasks = [f"task number {n}" for n in range(5)]
    result = plan("\n".join(tasks), ["default"], limit=2)
    assert len(result.assignments) == 2
    assert sorted(t for a in result.assignments for t in a.task.split("\n\n")) == sorted(tasks)
    assert "spawn limit 2 reached: 5 subtasks merged into 2 workers" in result.notes


def test_an_empty_plan_says_so() -> None:
    assert plan("", WORKERS, 4).notes == ["the manager's plan has no subtasks"]
