"""JSON's own types for what callers send: request models are strict (`"3"` is not 3,
`false` is not 0, `"yes"` is not true), except that an integer may be written `3.0`, as
JSON Schema's `integer` allows; and a date-time is ISO 8601 only (pydantic also reads a
bare number as a Unix time)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator


def _integral(value: Any) -> Any:
    return int(value) if type(value) is float and value.is_integer() else value


Integral = BeforeValidator(_integral)
Integer = Annotated[int, Integral]
# With bounds and None: `Annotated[int, Field(ge=1), Integral] | None` (bounds before the
# validator, so the JSON Schema shows them as minimum and maximum).


NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _iso(value: Any) -> Any:
    if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        raise ValueError("an ISO 8601 date-time, such as 2026-11-30T12:00:00Z")
    return value


Iso8601 = BeforeValidator(_iso)  # Annotated[datetime | None, Iso8601, Query(...)]
