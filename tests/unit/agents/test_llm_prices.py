"""The llm backend's price table: built-in list prices, snapshot names, unknown models, the
override file, and the Retry-After parsing that steers Temporal's next retry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from agents.backends.llm import BUILTIN_PRICES, LlmBackend, Price, PriceTable, retry_after
from core.settings import load_settings

pytestmark = pytest.mark.unit


def test_cost_is_tokens_times_the_price_per_million() -> None:
    table = PriceTable.load(None)
    assert table.price("gpt-4o") == Price(input=2.5, output=10)
    assert table.cost("gpt-4o", 1_000_000, 1_000_000) == pytest.approx(12.5)
    assert table.cost("claude-sonnet-4-6", 2_000, 500) == pytest.approx(
        (2_000 * 3 + 500 * 15) / 1e6
    )


def test_a_snapshot_is_priced_as_the_longest_model_it_extends() -> None:
    table = PriceTable.load(None)
    assert table.price("claude-haiku-4-5-20251001") == table.price("claude-haiku-4-5")
    assert table.price("gpt-4o-mini-2024-07-18") == table.price("gpt-4o-mini")
    assert table.price("gpt-4o-2024-11-20") == table.price("gpt-4o")
    assert table.price("gpt-5.4-mini-2026-03-17") == table.price("gpt-5.4-mini")


@pytest.mark.parametrize("model", ["llama3.2:3b", "qwen2.5-coder", "gpt-4.10", "my-gpt-4o"])
def test_models_missing_from_the_table_cost_nothing(model: str) -> None:
    table = PriceTable.load(None)
    assert table.price(model) == Price(input=0, output=0)
    assert table.cost(model, 10_000, 10_000) == 0


def test_built_in_prices_cover_both_providers() -> None:
    assert any(name.startswith("gpt-") for name in BUILTIN_PRICES)
    assert any(name.startswith("claude-") for name in BUILTIN_PRICES)
    assert all(price.output >= price.input > 0 for price in BUILTIN_PRICES.values())


@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_a_price_file_overrides_and_adds_models(tmp_path: Path, suffix: str) -> None:
    prices = {"gpt-4o": {"input": 1, "output": 2}, "llama3.2": {"input": 0.1, "output": 0.2}}
    path = tmp_path / f"prices.{suffix}"
    if suffix == "json":
        path.write_text(json.dumps(prices))
    else:
        path.write_text("gpt-4o: {input: 1, output: 2}\nllama3.2:\n  input: 0.1\n  output: 0.2\n")
    table = PriceTable.load(path)

    assert table.price("gpt-4o") == Price(input=1, output=2)
    assert table.price("llama3.2") == Price(input=0.1, output=0.2)
    assert table.price("claude-haiku-4-5") == BUILTIN_PRICES["claude-haiku-4-5"]  # kept


@pytest.mark.parametrize(
    "content",
    [
        "gpt-4o: {input: -1, output: 2}",  # negative
        "gpt-4o: {input: 1}",  # no output price
        "gpt-4o: {input: 1, output: 2, cached: 0.1}",  # unknown field
        "- gpt-4o",  # not a mapping
        "",  # empty
        "gpt-4o: {input: 1, output: [",  # not YAML
    ],
)
def test_a_bad_price_file_is_refused_naming_the_setting(tmp_path: Path, content: str) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(content)
    with pytest.raises(ValueError, match="ACC_LLM_PRICES_FILE"):
        PriceTable.load(path)


def test_the_backend_refuses_to_start_with_a_missing_price_file(tmp_path: Path) -> None:
    settings = load_settings(LLM_PRICES_FILE=tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="ACC_LLM_PRICES_FILE"):
        LlmBackend(settings)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, timedelta(seconds=7)),
        ({"retry-after": "0.5"}, timedelta(seconds=0.5)),
        ({"retry-after-ms": "1500", "retry-after": "9"}, timedelta(seconds=1.5)),
        ({"retry-after-ms": "soon", "retry-after": "9"}, timedelta(seconds=9)),
        ({"retry-after": "0"}, None),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "whenever"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: timedelta | None) -> None:
    assert retry_after(headers) == expected


def test_retry_after_as_a_date() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    delay = retry_after({"retry-after": later})
    assert delay is not None and timedelta(seconds=55) < delay <= timedelta(seconds=60)
    earlier = format_datetime(datetime.now(UTC) - timedelta(seconds=60), usegmt=True)
    assert retry_after({"retry-after": earlier}) is None
