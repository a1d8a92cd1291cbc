"""JSON's own types for what callers send: request models are strict (`"3"` is not 3,
`false` is not 0, `"yes"` is not true), except that an integer may be written `3.0`, as
JSON Schema's `integer` allows."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator


def _integral(value: Any) -> Any:
    return int(value) if type(value) is float and value.is_integer() else value


Integral = BeforeValidator(_integral)
Integer = Annotated[int, Integral]
# With bounds and None: `Annotated[int, Field(ge=1), Integral] | None` (bounds before the
# validator, so the JSON Schema shows them as minimum and maximum).
