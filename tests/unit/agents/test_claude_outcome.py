"""From a recorded run of the real Claude Code CLI to the step's outcome: the cost acc computes
equals the CLI's own `total_cost_usd` on every recorded transcript, tokens cover every model,
and each failure becomes its typed error."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from agents.backends import claude_outcome
from agents.backends.claude_stream import ClaudeStream
from agents.prices import BUILT_IN, PriceTable
from core.contracts import Usage
from core.specs import ClaudeCodeAgent
from tests.unit.agents.test_claude_stream import TRANSCRIPTS, replay

pytestmark = pytest.mark.unit
RECORDED = sorted(path.stem for path in TRANSCRIPTS.glob("*.jsonl"))
AGENT = ClaudeCodeAgent(prompt="p", repo="/r", max_turns=1, max_budget_usd=0.25)


def judged(stream: ClaudeStream, agent: ClaudeCodeAgent = AGENT) -> str | None:
    return claude_outcome.judge(
        stream, agent, code=0, stderr="", usage=Usage(), api_url="http://api.test"
    )


@pytest.mark.parametrize("name", RECORDED)
def test_acc_computes_the_clis_own_cost_on_every_recorded_transcript(name: str) -> None:
    stream, _ = replay(name)
    priced = claude_outcome.price(stream, PriceTable.load())
    assert priced.unpriced == []
    assert round(priced.usage.cost_usd, 2) == round(stream.cli_cost_usd, 2)  # to the cent
    assert priced.usage.cost_usd == pytest.approx(stream.cli_cost_usd, abs=1e-9)
    for model, entry in priced.models.items():
        assert entry["cost_usd"] == pytest.approx(entry["cli_cost_usd"], abs=1e-9), model


def test_recorded_costs_are_not_all_trivial() -> None:
    costs = [replay(name)[0].cli_cost_usd for name in RECORDED]
    assert sum(cost > 0.1 for cost in costs) >= 3  # dollars and cents, not fractions of one


def test_tokens_come_from_every_model_not_the_main_loop_alone() -> None:
    stream, _ = replay("subagent-two-models")
    priced = claude_outcome.price(stream, PriceTable.load())
    main = 140 + 30_000 + 30_000  # fresh input, cache reads, cache writes
    subagent = 1_200 + 8_000 + 8_000
    assert priced.usage.input_tokens == main + subagent
    assert priced.usage.output_tokens == 430 + 100
    assert sorted(priced.models) == ["claude-haiku-4-5-20251001", "claude-sonnet-4-6"]
    assert priced.models["claude-sonnet-4-6"]["cache_write_1h_tokens"] == 30_000


def test_a_model_acc_cannot_price_is_costed_at_the_clis_figure_and_flagged() -> None:
    stream, _ = replay("edit-files")
    without = PriceTable({k: v for k, v in BUILT_IN.items() if k != "claude-sonnet-4-5"}, {})
    priced = claude_outcome.price(stream, without)
    assert priced.unpriced == ["claude-sonnet-4-5"]
    assert priced.usage.cost_usd == stream.cli_cost_usd > 0
    ruled = PriceTable.load(rules={"claude-sonnet-*": {"input": 1, "output": 1}})
    assert claude_outcome.price(stream, ruled).unpriced == []


@pytest.mark.parametrize(
    ("name", "kind", "retryable", "delay"),
    [
        ("rate-limited", "RateLimited", True, timedelta(seconds=1)),
        ("overloaded", "ProviderOverloaded", True, None),
        ("api-unreachable", "ProviderUnavailable", True, None),
        ("auth-failed", "AuthenticationFailed", False, None),
        ("not-logged-in", "ClaudeNotLoggedIn", False, None),
        ("max-turns", "MaxTurnsReached", False, None),
        ("budget-exceeded", "StepBudgetExceeded", False, None),
        ("permission-denied", "PermissionDenied", False, None),
    ],
)
def test_each_recorded_failure_becomes_its_typed_error(
    name: str, kind: str, retryable: bool, delay: timedelta | None
) -> None:
    stream, _ = replay(name)
    with pytest.raises(ApplicationError) as failure:
        judged(stream)
    assert failure.value.type == kind
    assert failure.value.non_retryable is not retryable
    assert failure.value.next_retry_delay == delay


def test_a_successful_run_and_accepted_denials_are_not_failures() -> None:
    assert judged(replay("edit-files")[0]) is None
    lenient = AGENT.model_copy(update={"accept_denials": True})
    assert judged(replay("permission-denied")[0], lenient) is None


def test_an_unknown_session_is_recognised_and_otherwise_a_retryable_failure() -> None:
    stream, _ = replay("unknown-session")
    assert claude_outcome.unknown_session(stream, "")
    assert not claude_outcome.unknown_session(replay("edit-files")[0], "")
    error = judged(stream)
    assert error is not None and error.startswith("claude failed (error_during_execution): No ")


def test_a_cli_without_a_result() -> None:
    stream = ClaudeStream()
    error = claude_outcome.judge(
        stream, AGENT, code=137, stderr="Killed\n", usage=Usage(), api_url="x"
    )
    assert error == "claude exited with code 137 without a result: Killed"
    root = "--dangerously-skip-permissions cannot be used with root/sudo privileges"
    with pytest.raises(ApplicationError) as refused:
        claude_outcome.judge(stream, AGENT, code=1, stderr=root, usage=Usage(), api_url="x")
    assert refused.value.type == "ConfigurationError" and "IS_SANDBOX=1" in refused.value.message


def test_login_problems_are_read_from_stderr_when_there_is_no_result() -> None:
    assert claude_outcome.login_problem(ClaudeStream(), "Error: Invalid API key\n")
    assert not claude_outcome.login_problem(ClaudeStream(), "No conversation found with x")
    assert claude_outcome.unknown_session(ClaudeStream(), "No conversation found with session ID")


def test_a_successful_answer_about_logins_is_not_a_login_problem() -> None:
    stream = ClaudeStream()
    answer = "Fixed the 'Please run /login' banner and the Invalid API key message."
    stream.feed(
        f'{{"type": "result", "subtype": "success", "is_error": false, "result": "{answer}"}}'
    )
    assert not claude_outcome.login_problem(stream, "") and judged(stream) is None


def test_denied_names_each_refused_call() -> None:
    stream, _ = replay("permission-denied")
    assert claude_outcome.denied(stream).startswith("1 tool call(s): Write /")
    assert Path(claude_outcome.denied(stream).split()[-1]).name == "app.py"
