"""Property tests of what users write: run specs (any JSON or YAML thrown at the parser is
a spec or a validation error naming a field, never a crash) and input templates (each key
filled once, nothing else touched)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cli.runs import CliError, load_spec
from core.specs import parse_spec, render

pytestmark = pytest.mark.unit
EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
keys = st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside a parsed JSON document."""
    found = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*path, index))
    return found


def _replaced(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[path[0]] = _replaced(document[path[0]], path[1:], new)
    return copy


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), new=json_values)
def test_a_spec_with_any_part_replaced_is_a_spec_or_a_validation_error(
    example: Path, data: st.DataObject, new: Any
) -> None:
    document = yaml.safe_load(example.read_text())
    path = data.draw(st.sampled_from(_paths(document)))
    try:
        parse_spec(_replaced(document, path, new))
    except ValidationError as exc:
        assert exc.errors(), "a validation error names what is wrong"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_a_parsed_spec_reads_back_the_same_from_its_json(example: Path) -> None:
    spec = parse_spec(yaml.safe_load(example.read_text()))
    assert parse_spec(spec.model_dump(mode="json")) == spec


@settings(max_examples=150)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_file_given_as_a_spec_is_a_spec_or_a_message(tmp_path_factory: Any, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("spec") / "spec.yaml"
    path.write_bytes(raw)
    try:
        load_spec(path)
    except CliError as exc:
        assert str(path) in str(exc)


@given(st.text(max_size=200))
def test_a_template_without_keys_it_has_texts_for_is_left_alone(template: str) -> None:
    assert render(template, {}) == template


@given(st.dictionaries(keys, st.text(max_size=40), min_size=1, max_size=4), st.data())
def test_each_key_is_filled_once_with_its_text_as_it_is(
    texts: dict[str, str], data: st.DataObject
) -> None:
    order = data.draw(st.lists(st.sampled_from(sorted(texts)), min_size=1, max_size=6))
    between = st.text(alphabet="ab {\n", max_size=5).filter(lambda g: "{{" not in g)
    glue = data.draw(st.lists(between, min_size=len(order) + 1, max_size=len(order) + 1))
    template = glue[0] + "".join(
        "{{ " + key + " }}" + g for key, g in zip(order, glue[1:], strict=True)
    )
    expected = glue[0] + "".join(texts[key] + g for key, g in zip(order, glue[1:], strict=True))
    assert render(template, texts) == expected


@given(keys, st.text(max_size=40))
def test_a_text_holding_a_key_is_not_expanded_in_turn(key: str, text: str) -> None:
    assume(key != "secret")
    texts = {key: "{{secret}}" + text, "secret": "leaked"}
    assert render("{{" + key + "}}", texts) == texts[key]
