"""The price table every backend shares: lookups (exact, 1M-context labels, dated snapshots,
rules), cache tokens priced as the providers price them, unknown models left unpriced, and
the override file and rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.backends.llm import LlmBackend
from agents.prices import BUILT_IN, Price, PriceTable, Tokens, cost
from core.settings import load_settings

pytestmark = pytest.mark.unit
TABLE = PriceTable.load()


def test_cost_is_tokens_times_the_price_per_million() -> None:
    assert TABLE.price("gpt-4o") == Price(input=2.5, output=10, cache_read=1.25)
    assert TABLE.cost("gpt-4o", Tokens(input=1_000_000, output=1_000_000)) == pytest.approx(12.5)


def test_anthropic_cache_reads_and_writes_are_priced_as_anthropic_prices_them() -> None:
    sonnet = TABLE.price("claude-sonnet-4-5")
    assert sonnet == Price(
        input=3, output=15, cache_read=0.3, cache_write=3.75, cache_write_1h=6, web_search=0.01
    )
    tokens = Tokens(input=1_000, output=500, cache_read=100_000, cache_write=20_000)
    expected = (1_000 * 3 + 500 * 15 + 100_000 * 0.3 + 20_000 * 3.75) / 1e6
    assert TABLE.cost("claude-sonnet-4-5", tokens) == pytest.approx(expected)
    # Read at a tenth of the input price: the old table charged the full price (10x).
    reads = Tokens(cache_read=1_000_000)
    assert TABLE.cost("claude-sonnet-4-5", reads) == pytest.approx(0.3)
    one_hour = Tokens(cache_write=10_000, cache_write_1h=4_000)
    assert TABLE.cost("claude-opus-4-5", one_hour) == pytest.approx(
        (6_000 * 6.25 + 4_000 * 10) / 1e6
    )
    assert TABLE.cost("claude-haiku-4-5", Tokens(web_searches=3)) == pytest.approx(0.03)


def test_openai_cached_input_is_discounted_and_nothing_is_written() -> None:
    tokens = Tokens(input=200_000, cache_read=800_000, output=0)
    assert TABLE.cost("gpt-4.1", tokens) == pytest.approx(0.2 * 2 + 0.8 * 0.5)
    assert TABLE.cost("o4-mini", Tokens(cache_read=1_000_000)) == pytest.approx(0.275)


@pytest.mark.parametrize(
    ("model", "listed"),
    [
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-opus-4-20250514", "claude-opus-4"),
        ("claude-opus-4-8[1m]", "claude-opus-4-8"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-11-20", "gpt-4o"),
        ("gpt-5.4-mini-2026-03-17", "gpt-5.4-mini"),
        ("o3-2025-04-16", "o3"),
        ("o4-mini-2025-04-16", "o4-mini"),
    ],
)
def test_snapshots_and_labels_are_priced_as_the_model_they_name(model: str, listed: str) -> None:
    assert TABLE.price(model) == BUILT_IN[listed]


def test_the_models_the_old_table_priced_at_zero_have_prices() -> None:
    for model in ("claude-sonnet-4-20250514", "claude-opus-4-1-20250805", "o3", "o4-mini"):
        assert (TABLE.cost(model, Tokens(input=1_000)) or 0) > 0, model


@pytest.mark.parametrize(
    "model", ["llama3.2:3b", "qwen2.5-coder", "gpt-4.10", "my-gpt-4o", "claude-opus-4-9"]
)
def test_models_missing_from_the_table_have_no_price(model: str) -> None:
    assert TABLE.price(model) is None and TABLE.cost(model, Tokens(input=10)) is None


def test_built_in_prices_cover_both_providers_sensibly() -> None:
    assert any(name.startswith("gpt-") for name in BUILT_IN)
    assert any(name.startswith("claude-") for name in BUILT_IN)
    for name, price in BUILT_IN.items():
        assert price.output >= price.input > 0, name
        assert (price.cache_read or price.input) <= price.input, name


def test_rules_price_what_the_table_does_not_list_most_specific_first() -> None:
    table = PriceTable.load(
        rules={"llama*": {"input": 0, "output": 0}, "llama3.2*": {"input": 0.1, "output": 0.2}}
    )
    assert table.price("llama3.2:3b") == Price(input=0.1, output=0.2)
    assert table.price("llama3.1:8b") == Price(input=0, output=0)
    assert table.cost("llama3.1:8b", Tokens(input=10)) == 0.0  # priced, at zero, on purpose
    assert table.price("gpt-4o") == BUILT_IN["gpt-4o"]  # listed models win over rules


@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_a_price_file_overrides_adds_models_and_rules(tmp_path: Path, suffix: str) -> None:
    prices = {
        "gpt-4o": {"input": 1, "output": 2},
        "llama3.2": {"input": 0.1, "output": 0.2, "cache_read": 0.01},
        "mistral-*": {"input": 0.5, "output": 1.5},
    }
    path = tmp_path / f"prices.{suffix}"
    if suffix == "json":
        path.write_text(json.dumps(prices))
    else:
        path.write_text(
            "gpt-4o: {input: 1, output: 2}\n"
            "llama3.2: {input: 0.1, output: 0.2, cache_read: 0.01}\n"
            "'mistral-*': {input: 0.5, output: 1.5}\n"
        )
    table = PriceTable.load(path)
    assert table.price("gpt-4o") == Price(input=1, output=2)
    assert table.price("llama3.2") == Price(input=0.1, output=0.2, cache_read=0.01)
    assert table.price("mistral-large-2") == Price(input=0.5, output=1.5)
    assert table.price("claude-haiku-4-5") == BUILT_IN["claude-haiku-4-5"]  # kept


def test_rates_left_out_default_to_the_input_rate() -> None:
    plain = Price(input=2, output=4)
    assert cost(plain, Tokens(cache_read=1_000_000, cache_write=1_000_000)) == pytest.approx(4)


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


def test_bad_rules_are_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="ACC_PRICE_RULES"):
        PriceTable.load(rules={"llama*": {"input": "free"}})


def test_the_backend_refuses_to_start_with_a_missing_price_file(tmp_path: Path) -> None:
    settings = load_settings(LLM_PRICES_FILE=tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="ACC_LLM_PRICES_FILE"):
        LlmBackend(settings)


def test_the_documented_table_is_the_built_in_one() -> None:
    doc = Path(__file__).resolve().parents[3] / "docs" / "PRICES.md"
    rows = {}
    for line in doc.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 6:
            rates = [None if cell == "—" else float(cell) for cell in cells[1:]]
            rows[cells[0].strip("`")] = rates
    assert list(rows) == list(BUILT_IN)
    for name, price in BUILT_IN.items():
        expected = [price.input, price.output, price.cache_read]
        expected += [price.cache_write, price.cache_write_1h]
        assert rows[name] == expected, name
