"""One price table for every backend: what a model's tokens cost, in USD per million.

A price has five rates: fresh input, output, cache reads, cache writes (5-minute TTL) and
cache writes with a 1-hour TTL, plus a fee per web search. Providers price them apart:
Anthropic bills a cache read at 0.1x input and a cache write at 1.25x (2x for 1 hour);
OpenAI bills cached input at a discount and has no cache writes. Rates left out default to
the input rate (a provider without caching).

`BUILT_IN` lists the list prices; docs/PRICES.md gives their date and source. The YAML or
JSON file at ACC_LLM_PRICES_FILE overrides and adds models; a key with `*` in it is a rule
(a glob over model names, e.g. `llama*: {input: 0, output: 0}`), and ACC_PRICE_RULES adds
rules from the environment (JSON).

A model is found by its name without a bracketed suffix (the Claude Code CLI reports
`claude-opus-4-8[1m]` for its 1M-context mode), then as a dated snapshot of the longest
listed name (`claude-haiku-4-5-20251001`, `gpt-4o-2024-11-20`; `claude-opus-4-9` is not a
snapshot of `claude-opus-4`), then by the most specific rule that matches (the longest
pattern). Anything else is unpriced: `cost()`
returns None and the backend flags the step rather than count it as free.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PRICES_DATE = "2026-11-30"


class Price(BaseModel):
    """USD per million tokens (and per web search)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(None, ge=0, description="Default: the input rate")
    cache_write: float | None = Field(None, ge=0, description="Default: the input rate")
    cache_write_1h: float | None = Field(None, ge=0, description="Default: cache_write")
    web_search: float = Field(0, ge=0, description="USD per web search request")


@dataclass(frozen=True)
class Tokens:
    """A call's tokens by kind. `input` is fresh input only; `cache_write` includes
    `cache_write_1h`."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cache_write_1h: int = 0
    web_searches: int = 0

    @property
    def all_input(self) -> int:
        """Every input token the model read: fresh, written to and read from the cache."""
        return self.input + self.cache_read + self.cache_write


def _anthropic(base: float, output: float) -> Price:
    """Anthropic's multipliers: cache read 0.1x, 5-minute write 1.25x, 1-hour write 2x."""
    return Price(
        input=base,
        output=output,
        cache_read=round(base * 0.1, 6),
        cache_write=round(base * 1.25, 6),
        cache_write_1h=base * 2,
        web_search=0.01,
    )


def _openai(base: float, output: float, cached: float) -> Price:
    return Price(input=base, output=output, cache_read=cached)


BUILT_IN: dict[str, Price] = {
    # Anthropic: the rates the Claude Code CLI 2.1.197 bills with (docs/PRICES.md).
    "claude-opus-4-8": _anthropic(5, 25),
    "claude-opus-4-7": _anthropic(5, 25),
    "claude-opus-4-6": _anthropic(5, 25),
    "claude-opus-4-5": _anthropic(5, 25),
    "claude-opus-4-1": _anthropic(15, 75),
    "claude-opus-4": _anthropic(15, 75),
    "claude-opus-4-0": _anthropic(15, 75),
    "claude-sonnet-4-6": _anthropic(3, 15),
    "claude-sonnet-4-5": _anthropic(3, 15),
    "claude-sonnet-4": _anthropic(3, 15),
    "claude-sonnet-4-0": _anthropic(3, 15),
    "claude-3-7-sonnet": _anthropic(3, 15),
    "claude-3-5-sonnet": _anthropic(3, 15),
    "claude-haiku-4-5": _anthropic(1, 5),
    "claude-3-5-haiku": _anthropic(0.8, 4),
    # OpenAI: input, output, cached input.
    "gpt-5.5": _openai(5, 30, 0.5),
    "gpt-5.4": _openai(2.5, 15, 0.25),
    "gpt-5.4-mini": _openai(0.75, 4.5, 0.075),
    "gpt-5.4-nano": _openai(0.2, 1.25, 0.02),
    "gpt-5": _openai(1.25, 10, 0.125),
    "gpt-5-mini": _openai(0.25, 2, 0.025),
    "gpt-5-nano": _openai(0.05, 0.4, 0.005),
    "gpt-4.1": _openai(2, 8, 0.5),
    "gpt-4.1-mini": _openai(0.4, 1.6, 0.1),
    "gpt-4.1-nano": _openai(0.1, 0.4, 0.025),
    "gpt-4o": _openai(2.5, 10, 1.25),
    "gpt-4o-mini": _openai(0.15, 0.6, 0.075),
    "o3": _openai(2, 8, 0.5),
    "o4-mini": _openai(1.1, 4.4, 0.275),
}

_FILE = TypeAdapter(dict[str, Price])
BRACKETED = re.compile(r"\[[^\]]*\]$")
SNAPSHOT = re.compile(r"\d{4}-?\d{2}-?\d{2}|latest")  # what follows a model's name in a snapshot


@dataclass(frozen=True)
class PriceTable:
    prices: Mapping[str, Price]
    rules: Mapping[str, Price]

    @classmethod
    def load(
        cls, path: Path | None = None, rules: Mapping[str, object] | None = None
    ) -> PriceTable:
        """The built-in prices, overlaid by the file at `path` and the extra `rules`.
        Raises ValueError naming the setting when either is not a price table."""
        prices: dict[str, Price] = dict(BUILT_IN)
        if path is not None:
            try:
                prices |= _FILE.validate_python(yaml.safe_load(path.read_text()))
            except (OSError, yaml.YAMLError, ValidationError) as exc:
                raise ValueError(f"ACC_LLM_PRICES_FILE {path} is not a price table: {exc}") from exc
        try:
            extra = _FILE.validate_python(dict(rules or {}))
        except ValidationError as exc:
            raise ValueError(f"ACC_PRICE_RULES is not a price table: {exc}") from exc
        patterns = {name: price for name, price in prices.items() if "*" in name} | extra
        exact = {name: price for name, price in prices.items() if "*" not in name}
        return cls(exact, patterns)

    def price(self, model: str) -> Price | None:
        """The model's price, or None when neither the table nor a rule knows it."""
        name = BRACKETED.sub("", model)
        if name in self.prices:
            return self.prices[name]
        stems = [known for known in self.prices if _snapshot_of(name, known)]
        if stems:
            return self.prices[max(stems, key=len)]
        matching = [rule for rule in self.rules if fnmatch.fnmatchcase(model, rule)]
        return self.rules[max(matching, key=len)] if matching else None

    def cost(self, model: str, tokens: Tokens) -> float | None:
        """USD for `tokens` of `model`; None when the model has no price."""
        price = self.price(model)
        return None if price is None else cost(price, tokens)


def _snapshot_of(model: str, known: str) -> bool:
    """`claude-haiku-4-5-20251001` and `gpt-4o-2024-11-20` are snapshots of their stem;
    `claude-opus-4-9` is another model, not a snapshot of `claude-opus-4`."""
    return model.startswith(f"{known}-") and bool(SNAPSHOT.fullmatch(model[len(known) + 1 :]))


def cost(price: Price, tokens: Tokens) -> float:
    cache_read = price.input if price.cache_read is None else price.cache_read
    cache_write = price.input if price.cache_write is None else price.cache_write
    cache_write_1h = cache_write if price.cache_write_1h is None else price.cache_write_1h
    one_hour = min(tokens.cache_write_1h, tokens.cache_write)
    per_million = (
        tokens.input * price.input
        + tokens.output * price.output
        + tokens.cache_read * cache_read
        + (tokens.cache_write - one_hour) * cache_write
        + one_hour * cache_write_1h
    )
    return per_million / 1_000_000 + tokens.web_searches * price.web_search
