"""`/codec/encode` and `/codec/decode`: the codec server of the Temporal Web UI, so the people
who may read runs see their payloads in the UI although Temporal stores them encrypted
(core/codec.py). The UI calls it from the browser: CORS allows its origin
(ACC_CORS_ORIGINS, the Temporal Web UI by default)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from api.deps import TemporalDep
from core.errors import InvalidInput

router = APIRouter(prefix="/codec", tags=["codec"])


@router.post("/decode", operation_id="codec-decode")
async def decode(body: dict[str, Any], client: TemporalDep) -> dict[str, Any]:
    """Decrypt payloads (Temporal's codec server protocol: `{"payloads": [...]}`)."""
    codec = client.data_converter.payload_codec
    return await _apply(body, codec.decode if codec else None)


@router.post("/encode", operation_id="codec-encode")
async def encode(body: dict[str, Any], client: TemporalDep) -> dict[str, Any]:
    """Encrypt payloads (Temporal's codec server protocol: `{"payloads": [...]}`)."""
    codec = client.data_converter.payload_codec
    return await _apply(body, codec.encode if codec else None)


async def _apply(
    body: dict[str, Any], convert: Callable[[Sequence[Payload]], Awaitable[list[Payload]]] | None
) -> dict[str, Any]:
    try:
        payloads = json_format.ParseDict(body, Payloads())
    except json_format.ParseError as exc:
        problem = {"field": "payloads", "message": str(exc), "type": "value_error"}
        raise InvalidInput(f"invalid request: payloads: {exc}", [problem]) from None
    if convert is not None:
        payloads = Payloads(payloads=await convert(list(payloads.payloads)))
    result: dict[str, Any] = json_format.MessageToDict(payloads)
    return result
