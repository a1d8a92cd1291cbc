"""The llm backend: one chat completion through the official OpenAI or Anthropic SDK.

The user message is the step's `prompt`, then a blank line and the step's input if any;
`system` goes where each SDK wants it. One SDK client is built per (provider, base URL) and
reused. The call heartbeats while it waits and is bounded by the step's `timeout_seconds`.

`base_url` in the spec, or ACC_OPENAI_BASE_URL / ACC_ANTHROPIC_BASE_URL, points a provider at
any compatible server (Ollama, vLLM, LiteLLM). The configured key goes only to the configured
endpoint (settings base URL, else the provider's own), so a run spec cannot send the worker's
key where it likes: a spec `base_url` of its own gets a placeholder key.

The SDKs never retry (max_retries=0); Temporal's retry policy does, steered by the error type.
Retryable: RateLimited (429, after its Retry-After), ProviderUnavailable (5xx, 408, 409,
connection errors, timeouts). Not: ConfigurationError (no key), AuthenticationFailed (401,
403), NotFound (404), BadRequest (other 4xx).

Cost: tokens times USD per million tokens from `LIST_PRICES`, overlaid by the YAML/JSON file at
ACC_LLM_PRICES_FILE (`gpt-4o: {input: 2.5, output: 10}`). A model is priced by its exact name,
else by the longest name it starts with plus '-' (`claude-haiku-4-5-20251001` as
`claude-haiku-4-5`); any other model costs 0, right for local models.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from temporalio.exceptions import ApplicationError

from agents.base import AgentContext, AgentOutcome
from core.contracts import Usage
from core.settings import Settings
from core.specs import LlmAgent

if TYPE_CHECKING:
    import anthropic
    import openai
    from openai.types.chat import ChatCompletionMessageParam


def _sdks() -> tuple[ModuleType, ModuleType]:
    """The SDKs, imported on the first LLM step: they take ~1 s and tens of MB to import,
    which a worker that never runs one should not pay at start-up."""
    import anthropic
    import openai

    return openai, anthropic


T = TypeVar("T")

OFFICIAL_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
KEY_SETTINGS = {"openai": "ACC_OPENAI_API_KEY", "anthropic": "ACC_ANTHROPIC_API_KEY"}
NO_KEY = "acc-no-key"  # the SDKs insist on a key even for servers that ignore it
HEARTBEAT_SECONDS = 1.0
EXCERPT_CHARS = 200
STATUS_TYPES = {
    401: "AuthenticationFailed",
    403: "AuthenticationFailed",
    404: "NotFound",
    429: "RateLimited",
}


class Price(BaseModel):
    """USD per million input and output tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)


FREE = Price(input=0, output=0)

# List prices in USD per million (input, output) tokens as published in mid-2026. Prices
# change: ACC_LLM_PRICES_FILE overrides any of them and adds models.
LIST_PRICES: dict[str, tuple[float, float]] = {
    "gpt-5.5": (5, 30),
    "gpt-5.4": (2.5, 15),
    "gpt-5.4-mini": (0.75, 4.5),
    "gpt-5.4-nano": (0.2, 1.25),
    "gpt-5": (1.25, 10),
    "gpt-5-mini": (0.25, 2),
    "gpt-5-nano": (0.05, 0.4),
    "gpt-4.1": (2, 8),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1-nano": (0.1, 0.4),
    "gpt-4o": (2.5, 10),
    "gpt-4o-mini": (0.15, 0.6),
    "claude-opus-4-8": (5, 25),
    "claude-opus-4-7": (5, 25),
    "claude-opus-4-6": (5, 25),
    "claude-opus-4-5": (5, 25),
    "claude-sonnet-4-6": (3, 15),
    "claude-sonnet-4-5": (3, 15),
    "claude-haiku-4-5": (1, 5),
}
BUILTIN_PRICES = {name: Price(input=i, output=o) for name, (i, o) in LIST_PRICES.items()}

_PRICE_FILE = TypeAdapter(dict[str, Price])


@dataclass(frozen=True)
class PriceTable:
    prices: Mapping[str, Price]

    @classmethod
    def load(cls, path: Path | None) -> PriceTable:
        """The built-in prices, overlaid by the YAML/JSON file at `path` when there is one."""
        if path is None:
            return cls(BUILTIN_PRICES)
        try:
            overrides = _PRICE_FILE.validate_python(yaml.safe_load(path.read_text()))
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise ValueError(f"ACC_LLM_PRICES_FILE {path} is not a price table: {exc}") from exc
        return cls({**BUILTIN_PRICES, **overrides})

    def price(self, model: str) -> Price:
        if model in self.prices:
            return self.prices[model]
        stems = [name for name in self.prices if model.startswith(f"{name}-")]
        return self.prices[max(stems, key=len)] if stems else FREE

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        price = self.price(model)
        return (input_tokens * price.input + output_tokens * price.output) / 1_000_000


@dataclass(frozen=True)
class Reply:
    text: str
    input_tokens: int
    output_tokens: int
    truncated: bool  # the model stopped at max_tokens


def retry_after(headers: Mapping[str, str]) -> timedelta | None:
    """The wait a provider asks for: `retry-after-ms`, or `Retry-After` in seconds or a date."""
    with contextlib.suppress(ValueError):
        if (millis := headers.get("retry-after-ms")) is not None:
            return _positive(float(millis) / 1000)
    value = headers.get("retry-after")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return _positive(float(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return _positive((when - datetime.now(UTC)).total_seconds())


def _positive(seconds: float) -> timedelta | None:
    return timedelta(seconds=seconds) if 0 < seconds < math.inf else None


class LlmBackend:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._prices = PriceTable.load(settings.LLM_PRICES_FILE)
        self._openai: dict[str, openai.AsyncOpenAI] = {}
        self._anthropic: dict[str, anthropic.AsyncAnthropic] = {}

    async def run(self, ctx: AgentContext) -> AgentOutcome:
        agent = ctx.task.agent
        assert isinstance(agent, LlmAgent)
        user = f"{agent.prompt}\n\n{ctx.input_text}" if ctx.input_text.strip() else agent.prompt
        timeout = ctx.task.timeout_seconds
        url, key = self._endpoint(agent)
        call = self._openai_chat if agent.provider == "openai" else self._anthropic_chat
        openai, anthropic = _sdks()
        try:
            async with asyncio.timeout(timeout):
                reply = await _heartbeating(call(agent, url, key, user, timeout), ctx.heartbeat)
        except (openai.APIStatusError, anthropic.APIStatusError) as exc:
            raise _status_error(agent, exc.status_code, exc.message, exc.response.headers) from exc
        except (openai.APIConnectionError, anthropic.APIConnectionError) as exc:
            message = f"{agent.provider} at {url} did not answer: {exc}"
            raise ApplicationError(message, type="ProviderUnavailable") from exc
        except TimeoutError:
            message = f"{agent.provider} at {url} did not answer within {timeout:g}s"
            raise ApplicationError(message, type="ProviderUnavailable") from None
        cost = self._prices.cost(agent.model, reply.input_tokens, reply.output_tokens)
        usage = Usage(
            input_tokens=reply.input_tokens, output_tokens=reply.output_tokens, cost_usd=cost
        )
        about = {"provider": agent.provider, "model": agent.model}
        excerpt = {"text": reply.text[:EXCERPT_CHARS], "chars": len(reply.text)}
        await ctx.emit("agent.message", {**about, **excerpt, "truncated": reply.truncated})
        await ctx.emit("agent.usage", {**about, **usage.model_dump()})
        return AgentOutcome(text=reply.text, truncated=reply.truncated, usage=usage)

    async def aclose(self) -> None:
        """Close the SDK clients (their connection pools); later runs build new ones."""
        for clients in (self._openai, self._anthropic):
            while clients:
                await clients.popitem()[1].close()

    def _endpoint(self, agent: LlmAgent) -> tuple[str, str]:
        """The base URL to call and the key to send it."""
        settings = self._settings
        official = OFFICIAL_URLS[agent.provider]
        if agent.provider == "openai":
            configured, secret = settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY
        else:
            configured, secret = settings.ANTHROPIC_BASE_URL, settings.ANTHROPIC_API_KEY
        home = (configured or official).rstrip("/")
        url = (agent.base_url or home).rstrip("/")
        key = secret.get_secret_value() if secret is not None else ""
        if url == home and key:
            return url, key
        if url == official:
            setting = KEY_SETTINGS[agent.provider]
            message = f"no API key for {agent.provider}: set {setting}, or a base_url to a server"
            message += " that needs none"
            raise ApplicationError(message, type="ConfigurationError", non_retryable=True)
        return url, NO_KEY

    async def _openai_chat(
        self, agent: LlmAgent, url: str, key: str, user: str, timeout: float
    ) -> Reply:
        openai, _ = _sdks()
        client = self._openai.get(url) or self._openai.setdefault(
            url, openai.AsyncOpenAI(api_key=key, base_url=url, max_retries=0)
        )
        messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": user}]
        if agent.system:
            messages.insert(0, {"role": "system", "content": agent.system})
        # OpenAI's reasoning models refuse `max_tokens`; compatible servers may not know the
        # newer `max_completion_tokens`.
        official = url == OFFICIAL_URLS["openai"]
        completion = await client.chat.completions.create(
            model=agent.model,
            messages=messages,
            max_completion_tokens=agent.max_tokens if official else openai.omit,
            max_tokens=openai.omit if official else agent.max_tokens,
            temperature=openai.omit if agent.temperature is None else agent.temperature,
            timeout=timeout,
        )
        choice = completion.choices[0] if completion.choices else None
        text = (choice.message.content or choice.message.refusal or "") if choice else ""
        usage = completion.usage
        return Reply(
            text=text,
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            truncated=choice is not None and choice.finish_reason == "length",
        )

    async def _anthropic_chat(
        self, agent: LlmAgent, url: str, key: str, user: str, timeout: float
    ) -> Reply:
        _, anthropic = _sdks()
        client = self._anthropic.get(url) or self._anthropic.setdefault(
            url, anthropic.AsyncAnthropic(api_key=key, base_url=url, max_retries=0)
        )
        # This SDK has no `temperature` argument any more; the API field is sent as is.
        temperature = None if agent.temperature is None else {"temperature": agent.temperature}
        message = await client.messages.create(
            model=agent.model,
            max_tokens=agent.max_tokens,
            messages=[{"role": "user", "content": user}],
            system=agent.system if agent.system else anthropic.omit,
            extra_body=temperature,
            timeout=timeout,
        )
        usage = message.usage
        cached = (usage.cache_creation_input_tokens or 0) + (usage.cache_read_input_tokens or 0)
        return Reply(
            text="".join(
                b.text for b in message.content if isinstance(b, anthropic.types.TextBlock)
            ),
            input_tokens=usage.input_tokens + cached,
            output_tokens=usage.output_tokens,
            truncated=message.stop_reason == "max_tokens",
        )


def _status_error(
    agent: LlmAgent, status: int, detail: str, headers: Mapping[str, str]
) -> ApplicationError:
    retryable = status in (408, 409, 429) or status >= 500
    kind = STATUS_TYPES.get(status) or ("ProviderUnavailable" if retryable else "BadRequest")
    message = f"{agent.provider} answered {status} for model {agent.model!r}: {detail}"
    if kind == "AuthenticationFailed":
        message += f" (check {KEY_SETTINGS[agent.provider]} or the base_url)"
    return ApplicationError(
        message,
        type=kind,
        non_retryable=not retryable,
        next_retry_delay=retry_after(headers) if retryable else None,
    )


async def _heartbeating(call: Awaitable[T], heartbeat: Callable[..., None]) -> T:
    """Await `call`, heartbeating meanwhile: a provider can think for longer than the
    activity's heartbeat timeout."""
    task = asyncio.ensure_future(call)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_SECONDS)
            if done:
                return task.result()
            heartbeat()
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
