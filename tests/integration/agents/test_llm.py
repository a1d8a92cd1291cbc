"""The llm backend through the real OpenAI and Anthropic SDKs against a real local HTTP server:
what is sent, what comes back, what it costs, and how each failure is typed for Temporal."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from agents.backends.llm import LlmBackend
from agents.base import AgentContext
from core.contracts import AgentTask
from core.settings import load_settings
from core.specs import LlmAgent
from tests.support.openai_compatible_server import OpenAICompatibleServer
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

NO_PROVIDER_SETTINGS: dict[str, object] = {
    "OPENAI_API_KEY": None,
    "OPENAI_BASE_URL": None,
    "ANTHROPIC_API_KEY": None,
    "ANTHROPIC_BASE_URL": None,
    "LLM_PRICES_FILE": None,
}


@dataclass
class Recorder:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    beats: int = 0

    async def emit(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))

    def heartbeat(self, *details: object) -> None:
        self.beats += 1


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer() as running:
        yield running


@pytest.fixture
async def make_backend() -> AsyncIterator[Callable[..., LlmBackend]]:
    """A backend on settings naming no provider endpoint or key unless the test sets them
    (explicit values win over any ACC_* variable of the machine)."""
    made: list[LlmBackend] = []

    def make(**overrides: object) -> LlmBackend:
        backend = LlmBackend(load_settings(**{**NO_PROVIDER_SETTINGS, **overrides}))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


def context(
    recorder: Recorder, input_text: str = "", timeout: float = 30, **agent: Any
) -> AgentContext:
    task = AgentTask(
        run_id="run-1",
        tenant="default",
        step_index=0,
        step_name="ask",
        agent=LlmAgent.model_validate(agent),
        timeout_seconds=timeout,
    )
    return AgentContext(
        task=task,
        input_text=input_text,
        workdir=Path("."),
        heartbeat=recorder.heartbeat,
        emit=recorder.emit,
    )


def base_url(server: OpenAICompatibleServer, provider: str) -> str:
    return f"{server.url}/v1" if provider == "openai" else server.url


async def failure(backend: LlmBackend, ctx: AgentContext) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await backend.run(ctx)
    return caught.value


async def test_openai_chat_returns_the_reply_with_usage_and_cost(
    server: OpenAICompatibleServer, make_backend: Callable[..., LlmBackend]
) -> None:
    recorder = Recorder()
    ctx = context(
        recorder,
        "to the world",
        provider="openai",
        model="gpt-4o",
        prompt="say hello",
        system="you shout",
        base_url=f"{server.url}/v1",
    )
    outcome = await make_backend().run(ctx)

    assert outcome.text == "SAY HELLO TO THE WORLD" and not outcome.truncated
    # 2 system words + 5 user words in, 5 words out; gpt-4o is $2.50 / $10 per million.
    assert (outcome.usage.input_tokens, outcome.usage.output_tokens) == (7, 5)
    assert outcome.usage.cost_usd == pytest.approx((7 * 2.5 + 5 * 10) / 1e6)
    sent = server.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["messages"] == [
        {"role": "system", "content": "you shout"},
        {"role": "user", "content": "say hello\n\nto the world"},
    ]
    assert sent.body["max_tokens"] == 1024 and "temperature" not in sent.body
    assert sent.headers["authorization"] == "Bearer acc-no-key"  # a local server needs no key


async def test_anthropic_messages_return_the_reply_with_usage_and_cost(
    server: OpenAICompatibleServer, make_backend: Callable[..., LlmBackend]
) -> None:
    ctx = context(
        Recorder(),
        "to the world",
        provider="anthropic",
        model="claude-haiku-4-5-20251001",  # a dated snapshot is priced as claude-haiku-4-5
        prompt="say hello",
        system="you shout",
        temperature=0.2,
        max_tokens=50,
        base_url=server.url,
    )
    outcome = await make_backend().run(ctx)

    assert outcome.text == "SAY HELLO TO THE WORLD" and not outcome.truncated
    assert (outcome.usage.input_tokens, outcome.usage.output_tokens) == (7, 5)
    assert outcome.usage.cost_usd == pytest.approx((7 * 1 + 5 * 5) / 1e6)
    sent = server.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.body["system"] == "you shout"
    assert sent.body["messages"] == [{"role": "user", "content": "say hello\n\nto the world"}]
    assert (sent.body["max_tokens"], sent.body["temperature"]) == (50, 0.2)
    assert sent.headers["authorization"] == "Bearer acc-no-key"  # this SDK's key header


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_blank_input_is_not_appended_and_max_tokens_truncates(
    provider: str, server: OpenAICompatibleServer, make_backend: Callable[..., LlmBackend]
) -> None:
    ctx = context(
        Recorder(),
        " \n",
        provider=provider,
        model="local-model",
        prompt="one two three",
        max_tokens=2,
        base_url=base_url(server, provider),
    )
    outcome = await make_backend().run(ctx)

    assert server.requests[-1].body["messages"][-1]["content"] == "one two three"
    assert outcome.text == "ONE TWO" and outcome.truncated
    assert outcome.usage.cost_usd == 0  # a model missing from the price table costs nothing


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_the_configured_key_goes_only_to_the_configured_endpoint(
    provider: str, server: OpenAICompatibleServer, make_backend: Callable[..., LlmBackend]
) -> None:
    home = base_url(server, provider)
    prefix = provider.upper()
    backend = make_backend(**{f"{prefix}_BASE_URL": home, f"{prefix}_API_KEY": "sk-secret"})
    for spec_url, expected in [
        (None, "sk-secret"),
        (f"{home}/", "sk-secret"),  # the same endpoint
        (home.replace("127.0.0.1", "localhost"), "acc-no-key"),  # one a run spec chose
    ]:
        agent: dict[str, Any] = {
            "provider": provider,
            "model": "m",
            "prompt": "hi",
            "base_url": spec_url,
        }
        outcome = await backend.run(context(Recorder(), **agent))
        assert outcome.text == "HI"
        assert server.requests[-1].headers["authorization"] == f"Bearer {expected}"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_missing_key_is_a_configuration_error_naming_the_setting(
    provider: str, make_backend: Callable[..., LlmBackend]
) -> None:
    ctx = context(Recorder(), provider=provider, model="m", prompt="hi")
    error = await failure(make_backend(), ctx)

    assert error.type == "ConfigurationError" and error.non_retryable
    assert f"ACC_{provider.upper()}_API_KEY" in error.message


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_rate_limits_are_retried_after_the_providers_retry_after(
    provider: str, server: OpenAICompatibleServer, make_backend: Callable[..., LlmBackend]
) -> None:
    before = len(server.requests)
    url = base_url(server, provider)
    ctx = context(Recorder(), provider=provider, model="m", prompt="FAIL 429", base_url=url)
    error = await failure(make_backend(), ctx)

    assert error.type == "RateLimited" and not error.non_retryable
    assert error.next_retry_delay == timedelta(seconds=7)
    assert len(server.requests) == before + 1  # the SDK did not retry on its own


async def test_retry_after_as_an_http_date(
    server: OpenAICompatibleServer, make_backend: Callable[..., LlmBackend]
) -> None:
    server.retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    try:
        url = f"{server.url}/v1"
        ctx = context(Recorder(), provider="openai", model="m", prompt="FAIL 429", base_url=url)
        error = await failure(make_backend(), ctx)
    finally:
        server.retry_after = "7"
    assert error.next_retry_delay is not None
    assert timedelta(seconds=25) < error.next_retry_delay <= timedelta(seconds=30)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, "BadRequest", False),
        (401, "AuthenticationFailed", False),
        (403, "AuthenticationFailed", False),
        (404, "NotFound", False),
        (422, "BadRequest", False),
        (500, "ProviderUnavailable", True),
        (503, "ProviderUnavailable", True),
    ],
)
async def test_http_errors_are_typed_for_the_retry_policy(
    provider: str,
    status: int,
    kind: str,
    retryable: bool,
    server: OpenAICompatibleServer,
    make_backend: Callable[..., LlmBackend],
) -> None:
    url = base_url(server, provider)
    ctx = context(Recorder(), provider=provider, model="m", prompt=f"FAIL {status}", base_url=url)
    error = await failure(make_backend(), ctx)

    assert (error.type, error.non_retryable) == (kind, not retryable)
    assert str(status) in error.message
    assert error.next_retry_delay == (timedelta(seconds=7) if retryable else None)
    if kind == "AuthenticationFailed":
        assert f"ACC_{provider.upper()}_API_KEY" in error.message


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_server_that_is_not_there_is_retryable(
    provider: str, make_backend: Callable[..., LlmBackend]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    ctx = context(Recorder(), provider=provider, model="m", prompt="hi", base_url=url)
    error = await failure(make_backend(), ctx)

    assert error.type == "ProviderUnavailable" and not error.non_retryable


async def test_the_step_timeout_bounds_the_call(
    server: OpenAICompatibleServer, make_backend: Callable[..., LlmBackend]
) -> None:
    url = f"{server.url}/v1"
    ctx = context(
        Recorder(), timeout=0.5, provider="openai", model="m", prompt="SLEEP 2", base_url=url
    )
    started = time.monotonic()
    error = await failure(make_backend(), ctx)

    assert error.type == "ProviderUnavailable" and not error.non_retryable
    assert time.monotonic() - started < 3


async def test_heartbeats_while_the_provider_thinks(
    server: OpenAICompatibleServer, make_backend: Callable[..., LlmBackend]
) -> None:
    recorder = Recorder()
    url = server.url
    ctx = context(recorder, provider="anthropic", model="m", prompt="SLEEP 1.5", base_url=url)
    outcome = await make_backend().run(ctx)

    assert outcome.text == "SLEEP 1.5" and recorder.beats >= 1


async def test_events_carry_an_excerpt_and_the_usage(
    server: OpenAICompatibleServer, make_backend: Callable[..., LlmBackend]
) -> None:
    recorder = Recorder()
    prompt = " ".join(["word"] * 100)  # a 499-character reply
    url = f"{server.url}/v1"
    ctx = context(recorder, provider="openai", model="gpt-4o-mini", prompt=prompt, base_url=url)
    outcome = await make_backend().run(ctx)

    cost = (100 * 0.15 + 100 * 0.6) / 1e6
    assert outcome.usage.cost_usd == pytest.approx(cost)
    assert recorder.events == [
        (
            "agent.message",
            {
                "provider": "openai",
                "model": "gpt-4o-mini",
                "text": outcome.text[:200],
                "chars": 499,
                "truncated": False,
            },
        ),
        (
            "agent.usage",
            {
                "provider": "openai",
                "model": "gpt-4o-mini",
                "input_tokens": 100,
                "output_tokens": 100,
                "cost_usd": outcome.usage.cost_usd,
                "cache_read_tokens": 0,
                "cache_write_tokens": 0,
                "unpriced": [],
            },
        ),
    ]


async def test_cached_prompt_tokens_are_priced_as_the_provider_prices_them(
    server: OpenAICompatibleServer, make_backend: Callable[..., LlmBackend]
) -> None:
    backend = make_backend()
    # OpenAI: 5 prompt tokens, 3 of them from the cache (half price for gpt-4o).
    openai_ctx = context(
        Recorder(),
        provider="openai",
        model="gpt-4o",
        prompt="a CACHED 3",
        base_url=f"{server.url}/v1",
    )
    openai_usage = (await backend.run(openai_ctx)).usage
    assert openai_usage.input_tokens == 3
    assert openai_usage.cost_usd == pytest.approx((0 * 2.5 + 3 * 1.25 + 3 * 10) / 1e6)
    # Anthropic: 5 fresh input tokens, 1000 read from the cache, 200 written to it.
    recorder = Recorder()
    anthropic_ctx = context(
        recorder,
        provider="anthropic",
        model="claude-haiku-4-5-20251001",
        prompt="x CACHED 1000 WRITTEN 200",
        base_url=server.url,
    )
    usage = (await backend.run(anthropic_ctx)).usage
    assert usage.input_tokens == 5 + 1000 + 200
    assert usage.cost_usd == pytest.approx((5 * 1 + 1000 * 0.1 + 200 * 1.25 + 5 * 5) / 1e6)
    reported = recorder.events[-1][1]
    assert (reported["cache_read_tokens"], reported["cache_write_tokens"]) == (1000, 200)


async def test_a_model_without_a_price_is_flagged_on_the_step_not_silently_free(
    server: OpenAICompatibleServer, make_backend: Callable[..., LlmBackend]
) -> None:
    recorder = Recorder()
    url = f"{server.url}/v1"
    ctx = context(recorder, provider="openai", model="llama3.2:3b", prompt="a b", base_url=url)
    outcome = await make_backend().run(ctx)
    assert outcome.usage.cost_usd == 0 and outcome.usage.tokens == 4
    assert recorder.events[-1][1]["unpriced"] == ["llama3.2:3b"]
    assert "no price for model 'llama3.2:3b'" in outcome.stderr
    assert "ACC_PRICE_RULES" in outcome.stderr
    ruled = make_backend(PRICE_RULES={"llama*": {"input": 0, "output": 0}})
    priced = await ruled.run(
        context(Recorder(), provider="openai", model="llama3.2:3b", prompt="a b", base_url=url)
    )
    assert priced.stderr == ""


async def test_a_price_file_overrides_and_adds_models(
    tmp_path: Path, server: OpenAICompatibleServer, make_backend: Callable[..., LlmBackend]
) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("gpt-4o: {input: 1, output: 2}\nmy-model: {input: 100, output: 1000}\n")
    backend = make_backend(LLM_PRICES_FILE=prices)
    url = f"{server.url}/v1"

    costs = []
    for model in ["gpt-4o", "my-model", "gpt-4o-mini"]:
        ctx = context(Recorder(), provider="openai", model=model, prompt="a b c", base_url=url)
        costs.append((await backend.run(ctx)).usage.cost_usd)

    assert costs == pytest.approx([(3 * 1 + 3 * 2) / 1e6, (3 * 100 + 3 * 1000) / 1e6, 2.25e-6])


async def test_settings_are_the_only_source_of_keys(
    monkeypatch: pytest.MonkeyPatch, make_backend: Callable[..., LlmBackend]
) -> None:
    """The SDKs would read OPENAI_API_KEY themselves; the backend always hands them its own."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    ctx = context(Recorder(), provider="openai", model="m", prompt="hi")
    error = await failure(make_backend(), ctx)

    assert error.type == "ConfigurationError"
