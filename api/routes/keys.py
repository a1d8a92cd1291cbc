"""`/v1/keys` and `/v1/audit` (admin): API keys (made, listed, revoked; a key's secret is
shown once, when it is made) and the audit log of writes and decisions."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from api.errors import documented
from api.security import Admin
from core.audit import AuditEvent, AuditLog
from core.auth import SCOPES, ApiKeys, KeyView, Scope
from core.errors import Conflict, NotFound

router = APIRouter(tags=["keys"])


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=200, description="Who or what uses it")
    scopes: list[Scope] = Field(min_length=1, description=f"Of {', '.join(SCOPES)}")
    groups: list[str] = Field(default_factory=list, max_length=50)
    expires_in_days: float | None = Field(None, gt=0, le=3650)


class NewKey(BaseModel):
    key: KeyView
    token: str = Field(description="The secret: shown this once, never again")


def _keys(request: Request) -> ApiKeys:
    keys: ApiKeys = request.app.state.authenticator.keys
    return keys


@router.post("/v1/keys", status_code=status.HTTP_201_CREATED, operation_id="keys-create")
async def create_key(caller: Admin, body: KeyRequest, request: Request) -> NewKey:
    """Make an API key of your tenant. Its token is in this answer only: store it now."""
    expires = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    key, token = await _keys(request).create(
        body.name, caller.tenant, list(body.scopes), body.groups, expires
    )
    return NewKey(key=key, token=token)


@router.get("/v1/keys", operation_id="keys-list")
async def list_keys(caller: Admin, request: Request) -> list[KeyView]:
    """The tenant's API keys (never their secrets)."""
    return await _keys(request).list(caller.tenant)


@router.delete("/v1/keys/{key_id}", operation_id="keys-revoke", responses=documented(404, 409))
async def revoke_key(caller: Admin, key_id: str, request: Request) -> KeyView:
    """Revoke a key: every API process refuses it within seconds. The key making the
    call cannot revoke itself (409): that would lock its holder out mid-request."""
    if caller.credential == f"key:{key_id}":
        raise Conflict(
            f"key {key_id} is the one making this request; revoke it with another admin key",
            {"id": key_id},
        )
    key = await _keys(request).revoke(key_id, caller.tenant)
    if key is None:
        raise NotFound(f"key {key_id} not found", {"id": key_id})
    return key


@router.get("/v1/audit", operation_id="audit-list")
async def audit(
    caller: Admin, request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[AuditEvent]:
    """The tenant's latest writes and decisions: who, what, when, how it ended."""
    log: AuditLog = request.app.state.audit
    return await log.recent(caller.tenant, limit)
