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

Cost: the tokens by kind (fresh input, cache reads, cache writes, output) priced by the
shared table in `agents/prices.py` (ACC_LLM_PRICES_FILE and ACC_PRICE_RULES extend it). A
model the table and the rules do not know costs nothing here but is flagged on the step
(its `agent.usage` event lists it under `unpriced`, and the step's stderr says so), so a
budget is never defeated silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar

from temporalio.exceptions import ApplicationError

from agents.base import AgentContext, AgentOutcome
from agents.prices import PriceTable, Tokens
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


@dataclass(frozen=True)
class Reply:
    text: str
    tokens: Tokens
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
        self._prices = PriceTable.load(settings.LLM_PRICES_FILE, settings.PRICE_RULES)
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
        tokens = reply.tokens
        cost = self._prices.cost(agent.model, tokens)
        usage = Usage(
            input_tokens=tokens.all_input, output_tokens=tokens.output, cost_usd=cost or 0.0
        )
        about = {"provider": agent.provider, "model": agent.model}
        excerpt = {"text": reply.text[:EXCERPT_CHARS], "chars": len(reply.text)}
        await ctx.emit("agent.message", {**about, **excerpt, "truncated": reply.truncated})
        kinds = {"cache_read_tokens": tokens.cache_read, "cache_write_tokens": tokens.cache_write}
        unpriced = [agent.model] if cost is None else []
        await ctx.emit(
            "agent.usage", {**about, **usage.model_dump(), **kinds, "unpriced": unpriced}
        )
        notice = (
            f"acc: no price for model {agent.model!r}: its cost is not counted; add it to "
            "ACC_LLM_PRICES_FILE or ACC_PRICE_RULES\n"
            if unpriced
            else ""
        )
        return AgentOutcome(text=reply.text, truncated=reply.truncated, usage=usage, stderr=notice)

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
        details = usage.prompt_tokens_details if usage else None
        cached = (details.cached_tokens or 0) if details else 0  # part of prompt_tokens
        tokens = Tokens(
            input=(usage.prompt_tokens - cached) if usage else 0,
            output=usage.completion_tokens if usage else 0,
            cache_read=cached,
        )
        return Reply(
            text=text,
            tokens=tokens,
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
        by_ttl = usage.cache_creation
        tokens = Tokens(
            input=usage.input_tokens,
            output=usage.output_tokens,
            cache_read=usage.cache_read_input_tokens or 0,
            cache_write=usage.cache_creation_input_tokens or 0,
            cache_write_1h=(by_ttl.ephemeral_1h_input_tokens or 0) if by_ttl else 0,
        )
        return Reply(
            text="".join(
                b.text for b in message.content if isinstance(b, anthropic.types.TextBlock)
            ),
            tokens=tokens,
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
