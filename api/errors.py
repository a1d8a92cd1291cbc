"""One error shape for every failure: `{"error": {"type", "message", "details"}}`."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import compile_path
from temporalio.service import RPCError, RPCStatusCode

from core import temporal
from core.errors import AccError
from core.specs import PATTERNS

log = logging.getLogger(__name__)
_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


class ErrorDetail(BaseModel):
    type: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every error answer: what went wrong (`type`), for people (`message`), and the
    fields or values at fault (`details`)."""

    error: ErrorDetail


_WHY = {
    400: "The body is not valid JSON",
    401: "No valid credential (X-API-Key or a bearer token)",
    403: "The credential lacks the scope this needs",
    404: "No such resource for this tenant",
    409: "The resource's state does not allow it",
    413: "The body is larger than ACC_API_MAX_BODY_BYTES",
    415: "A body that is not application/json",
    422: "A field is invalid; `details` names each",
    429: "Too many requests or running runs; see Retry-After",
    503: "A service acc needs (Temporal, Redis, SQL) is unreachable",
}


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error codes, all with the one error shape."""
    return {code: {"model": ErrorBody, "description": _WHY[code]} for code in codes}


# What any authenticated operation can answer besides its own result.
GUARDED = documented(400, 401, 403, 413, 415, 422, 429, 503)


def error_response(
    status: int,
    type_: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"type": type_, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...], err: dict[str, Any]) -> str:
    # ("body", "pipeline", "steps", 0, "name") -> "steps[0].name": the pattern's union tag
    # is dropped (the spec names its pattern); the body itself is "body".
    parts = list(loc[1:]) if loc and loc[0] == "body" else list(loc)
    if loc and loc[0] == "body" and parts and parts[0] in PATTERNS:
        parts = parts[1:]
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        # The field at fault is the discriminator itself (`pattern`, `backend`).
        parts.append(str(err.get("ctx", {}).get("discriminator", "")).strip("'"))
    parts = parts or ["body"]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": _field(tuple(err["loc"]), err), "message": err["msg"], "type": err["type"]}
        for err in exc.errors()
    ]
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
    return error_response(422, "invalid_input", f"invalid request: {summary}", problems)


async def on_acc_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AccError)
    return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=exc.headers)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    kinds = {
        400: "invalid_json",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
    }
    status, detail = exc.status_code, str(exc.detail)
    headers = dict(exc.headers or {})
    allowed = _allowed_methods(request) if status in (404, 405) else None
    if allowed and request.method not in allowed.split(", "):
        # A path of the API asked with a method none of its operations takes: the
        # dashboard mounted at / answers GET for every path and would make it a 404.
        status, detail = 405, "Method Not Allowed"
        headers["Allow"] = allowed
    kind = kinds.get(status, "http_error")
    return error_response(status, kind, detail, headers=headers)


def _allowed_methods(request: Request) -> str | None:
    """The methods the API's operations take at this path (from its OpenAPI document),
    when any does: the dashboard's files are mounted at / and would otherwise answer for
    every path with "GET, HEAD"."""
    app = request.app
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "allow", None)
    if table is None:
        table = [
            (compile_path(path)[0], {m.upper() for m in item if m in _HTTP_METHODS})
            for path, item in app.openapi().get("paths", {}).items()
        ]
        app.state.allow = table
    methods = {m for regex, ms in table if regex.match(request.url.path) for m in ms}
    return ", ".join(sorted(methods)) or None


async def on_rpc_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RPCError)
    address = request.app.state.settings.temporal_address
    if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return error_response(
            503,
            "service_unavailable",
            f"Temporal is unreachable at {address}",
            {"address": address, "reason": exc.message},
        )
    log.error("Temporal error on %s: %s", request.url.path, exc.message)
    return error_response(502, "temporal_error", exc.message, {"status": exc.status.name})


async def on_runtime_error(request: Request, exc: Exception) -> JSONResponse:
    if temporal.is_connect_failure(exc):  # the lazy client could not connect
        address = request.app.state.settings.temporal_address
        message = f"Temporal is unreachable at {address}"
        return error_response(503, "service_unavailable", message, {"address": address})
    return await on_unexpected(request, exc)


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error; see the API log")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(AccError, on_acc_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RPCError, on_rpc_error)
    app.add_exception_handler(RuntimeError, on_runtime_error)
    app.add_exception_handler(Exception, on_unexpected)
