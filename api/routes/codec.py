"""`/codec/encode` and `/codec/decode`: the codec server of the Temporal Web UI, so the people
who may read runs see their payloads in the UI although Temporal stores them encrypted
(core/codec.py). The UI calls it from the browser: CORS allows its origin
(ACC_CORS_ORIGINS, the Temporal Web UI by default)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import APIRouter, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, SecurityScopes
from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.common.v1 import Payload, Payloads

from api.deps import TemporalDep
from api.security import api_key, bearer, principal
from core.auth import Principal
from core.errors import InvalidInput
from core.settings import Settings

router = APIRouter(prefix="/codec", tags=["codec"])


async def codec_caller(
    request: Request,
    needed: SecurityScopes,
    key: Annotated[str | None, Security(api_key)] = None,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> Principal | None:
    """A reader of runs; or, in development, the local Temporal Web UI itself: a browser
    on this machine on the UI's page (the dev UI has no login to pass on). Production
    always wants a credential (run the UI with its own auth and pass its access token)."""
    settings: Settings = request.app.state.settings
    origin = request.headers.get("origin", "").rstrip("/")
    local = request.client is not None and request.client.host in ("127.0.0.1", "::1")
    ui = origin == settings.temporal_ui_url.rstrip("/")
    if settings.ENVIRONMENT == "development" and local and ui and not (key or credentials):
        return None
    return await principal(request, needed, key, credentials)


BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


class CodecPayload(BaseModel):
    """One Temporal payload as its protobuf JSON: metadata values and data in base64."""

    model_config = ConfigDict(extra="forbid")

    metadata: dict[str, Annotated[str, Field(pattern=BASE64)]] = Field(default_factory=dict)
    data: Annotated[str, Field(pattern=BASE64)] = ""


class CodecPayloads(BaseModel):
    """The codec server protocol's body, both ways."""

    model_config = ConfigDict(extra="forbid", strict=True)

    payloads: list[CodecPayload]


CodecCaller = Annotated[Principal | None, Security(codec_caller, scopes=["runs:read"])]


@router.post("/decode", operation_id="codec-decode")
async def decode(_: CodecCaller, body: CodecPayloads, client: TemporalDep) -> CodecPayloads:
    """Decrypt payloads (Temporal's codec server protocol: `{"payloads": [...]}`)."""
    codec = client.data_converter.payload_codec
    return await _apply(body, codec.decode if codec else None)


@router.post("/encode", operation_id="codec-encode")
async def encode(_: CodecCaller, body: CodecPayloads, client: TemporalDep) -> CodecPayloads:
    """Encrypt payloads (Temporal's codec server protocol: `{"payloads": [...]}`)."""
    codec = client.data_converter.payload_codec
    return await _apply(body, codec.encode if codec else None)


async def _apply(
    body: CodecPayloads, convert: Callable[[Sequence[Payload]], Awaitable[list[Payload]]] | None
) -> CodecPayloads:
    try:
        payloads = json_format.ParseDict(body.model_dump(), Payloads())
    except json_format.ParseError as exc:
        problem = {"field": "payloads", "message": str(exc), "type": "value_error"}
        raise InvalidInput(f"invalid request: payloads: {exc}", [problem]) from None
    if convert is not None:
        payloads = Payloads(payloads=await convert(list(payloads.payloads)))
    # Per payload: MessageToDict leaves out empty fields (an empty list of payloads too).
    return CodecPayloads(
        payloads=[
            CodecPayload.model_validate(json_format.MessageToDict(payload))
            for payload in payloads.payloads
        ]
    )
