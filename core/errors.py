"""Errors typed by layer, rendered by the API in one shape.

`{"error": {"type": ..., "message": ..., "details": ...}}` with the status of the class.
"""

from __future__ import annotations

from typing import Any


class AccError(Exception):
    """Base of every error acc raises on purpose."""

    status_code = 500
    type = "internal_error"
    headers: dict[str, str] | None = None  # HTTP headers the API sends with it

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_body(self) -> dict[str, Any]:
        return {"error": {"type": self.type, "message": self.message, "details": self.details}}


class InvalidInput(AccError):
    status_code = 422
    type = "invalid_input"


class NotFound(AccError):
    status_code = 404
    type = "not_found"


class Conflict(AccError):
    status_code = 409
    type = "conflict"


class ServiceUnavailable(AccError):
    """A dependency (Temporal, Kafka, Redis, SQL) did not answer."""

    status_code = 503
    type = "service_unavailable"


class TooManyRequests(AccError):
    status_code = 429
    type = "rate_limited"

    def __init__(self, message: str, retry_after: float, details: Any = None) -> None:
        super().__init__(message, details)
        self.headers = {"Retry-After": str(max(1, round(retry_after)))}
