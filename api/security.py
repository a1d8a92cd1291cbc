"""Every request's caller: an API key (`X-API-Key`, or `Authorization: Bearer acc_...`) or
an OIDC bearer token, checked for the scope its route needs, and held to a request rate
per credential. OpenAPI shows both schemes; routes declare their scope with the aliases
below (`Reader`, `Writer`, `Approver`, `Admin`, `AgentClient`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from redis.exceptions import RedisError

from agents.limits import RateLimiter
from core.auth import SCOPES, Authenticator, Forbidden, Principal, Unauthorized
from core.errors import TooManyRequests
from core.settings import Settings

api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An acc API key (`acc keys create`)"
)
bearer = HTTPBearer(
    auto_error=False, description="An acc API key, or an access token of the OIDC issuer"
)


async def principal(
    request: Request,
    needed: SecurityScopes,
    key: Annotated[str | None, Security(api_key)] = None,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> Principal:
    state = request.app.state
    settings: Settings = state.settings
    if settings.AUTH == "off":
        caller = Principal(
            subject="anonymous", tenant=settings.TENANT, scopes=frozenset(SCOPES), credential="none"
        )
    else:
        token = key or (credentials.credentials if credentials else None)
        if not token:
            raise Unauthorized(
                "this needs a credential: an API key in X-API-Key (or Authorization: Bearer), "
                "or an OIDC access token; `acc keys create` makes one"
            )
        authenticator: Authenticator = state.authenticator
        caller = await authenticator.principal(token)
    for scope in needed.scopes:
        if not caller.allows(scope):
            raise Forbidden(f"this credential lacks the {scope} scope", {"scope": scope})
    await _within_rate(request, settings, caller)
    request.state.principal = caller
    return caller


async def _within_rate(request: Request, settings: Settings, caller: Principal) -> None:
    if settings.API_RATE_LIMIT == 0 or caller.credential == "none":
        return
    limiters: dict[str, RateLimiter] = request.app.state.rate_limiters
    limiter = limiters.get(caller.credential)
    if limiter is None:
        limiter = RateLimiter(
            request.app.state.redis,
            f"api:{caller.credential}",
            requests_per_minute=settings.API_RATE_LIMIT,
            prefix=settings.REDIS_PREFIX,
        )
        limiters[caller.credential] = limiter
    try:
        wait = await limiter.try_acquire()
    except RedisError:
        return  # without Redis the API serves on, unlimited (readyz says Redis is down)
    if wait > 0:
        raise TooManyRequests(
            f"this credential sent more than {settings.API_RATE_LIMIT} requests a minute; "
            f"retry in {wait:.1f}s",
            wait,
            {"limit_per_minute": settings.API_RATE_LIMIT},
        )


Caller = Annotated[Principal, Security(principal)]
Reader = Annotated[Principal, Security(principal, scopes=["runs:read"])]
Writer = Annotated[Principal, Security(principal, scopes=["runs:write"])]
Approver = Annotated[Principal, Security(principal, scopes=["runs:approve"])]
AgentClient = Annotated[Principal, Security(principal, scopes=["agents:connect"])]
Admin = Annotated[Principal, Security(principal, scopes=["admin"])]
