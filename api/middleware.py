"""What every request must pass before a route sees it: a body of at most
ACC_API_MAX_BODY_BYTES (413 naming the limit, so an oversized spec never reaches Temporal
as a 502), and a JSON content type on any request that carries a body (415)."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BODY_METHODS = {"POST", "PUT", "PATCH"}


class RequestGuard:
    """Pure ASGI middleware: checks run before the body is read into memory."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app, self.limit = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._too_large(send, int(length))
            return
        has_body = (length is not None and length != "0") or "transfer-encoding" in headers
        if has_body and not _is_json(headers.get("content-type", "")):
            await _reply(send, 415, "unsupported_media_type", _NOT_JSON, None)
            return
        received = 0

        async def counted() -> Message:
            # A body without a length (chunked) is counted as it arrives; the route's body
            # parsing passes an HTTPException through, so this becomes the same 413.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, self._too_large_message(received))
            return message

        await self.app(scope, counted, send)

    async def _too_large(self, send: Send, size: int) -> None:
        message = self._too_large_message(size)
        await _reply(send, 413, "payload_too_large", message, {"limit": self.limit})

    def _too_large_message(self, size: int) -> str:
        return (
            f"the request body is {size} bytes or more; this server takes at most "
            f"{self.limit} (ACC_API_MAX_BODY_BYTES)"
        )


_NOT_JSON = "the request body must be JSON: send it with Content-Type: application/json"


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


async def _reply(send: Send, status: int, kind: str, message: str, details: object) -> None:
    body = json.dumps({"error": {"type": kind, "message": message, "details": details}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
