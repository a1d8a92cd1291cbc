"""Who is calling: API keys and OIDC bearer tokens, turned into a `Principal` (a subject, its
tenant, scopes and groups) by the API and the pool alike.

API keys (`acc_<id>_<secret>`) are stored as the SHA-256 of their secret (they carry 256
bits of randomness, so a slow hash adds nothing), shown once at creation, scoped, optionally
expiring, revocable. A verified key is trusted for `CACHE_SECONDS` before SQL is asked
again, so a revocation takes effect within that time on every API process.

Bearer tokens that are not acc keys are JWTs from the OIDC issuer in ACC_OIDC_ISSUER: the
signing keys come from its JWKS (discovered, cached, fetched again for an unknown key id),
and the audience and issuer are checked. The tenant, scopes and groups are claims.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import jwt
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import AccError
from core.settings import Settings

Scope = Literal["runs:read", "runs:write", "runs:approve", "agents:connect", "admin"]
SCOPES: tuple[Scope, ...] = ("runs:read", "runs:write", "runs:approve", "agents:connect", "admin")
PREFIX = "acc_"
CACHE_SECONDS = 10.0
JWKS_SECONDS = 600.0


class Unauthorized(AccError):
    status_code = 401
    type = "unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="acc"'}


class Forbidden(AccError):
    status_code = 403
    type = "forbidden"


class Principal(BaseModel):
    """An authenticated caller."""

    subject: str
    tenant: str
    scopes: frozenset[str]
    groups: frozenset[str] = frozenset()
    credential: str  # "key:<id>" or "jwt:<issuer>"

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=200)
    tenant: str = Field(max_length=200, index=True)
    scopes: str = Field(description="Space-separated scopes")
    groups: str = Field(default="", description="Space-separated groups (approvals)")
    secret_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class KeyView(BaseModel):
    """An API key as listed: never its secret."""

    id: str
    name: str
    tenant: str
    scopes: list[str]
    groups: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyView:
        return cls(
            id=key.id,
            name=key.name,
            tenant=key.tenant,
            scopes=key.scopes.split(),
            groups=key.groups.split(),
            created_at=key.created_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
        )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeys:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def create(
        self,
        name: str,
        tenant: str,
        scopes: list[str],
        groups: list[str] | None = None,
        expires_in: timedelta | None = None,
    ) -> tuple[KeyView, str]:
        """A new key and its token (`acc_<id>_<secret>`), which is shown only now."""
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise AccError(f"unknown scopes {unknown}; use {', '.join(SCOPES)}")
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + expires_in if expires_in else None
        key = ApiKey(
            id=key_id,
            name=name,
            tenant=tenant,
            scopes=" ".join(sorted(set(scopes))),
            groups=" ".join(sorted(set(groups or []))),
            secret_hash=_digest(secret),
            expires_at=expires,
        )
        async with AsyncSession(self._engine) as session:
            session.add(key)
            await session.commit()
            await session.refresh(key)
        return KeyView.of(key), f"{PREFIX}{key_id}_{secret}"

    async def list(self, tenant: str | None = None) -> list[KeyView]:
        query = select(ApiKey).order_by(ApiKey.created_at)  # type: ignore[arg-type]
        if tenant is not None:
            query = query.where(ApiKey.tenant == tenant)
        async with AsyncSession(self._engine) as session:
            return [KeyView.of(k) for k in (await session.exec(query)).all()]

    async def revoke(self, key_id: str, tenant: str | None = None) -> KeyView | None:
        async with AsyncSession(self._engine) as session:
            key = await session.get(ApiKey, key_id)
            if key is None or (tenant is not None and key.tenant != tenant):
                return None
            key.revoked_at = key.revoked_at or datetime.now(UTC)
            session.add(key)
            await session.commit()
            await session.refresh(key)
        self._verified = {
            t: v for t, v in self._verified.items() if v[0].credential != f"key:{key_id}"
        }
        return KeyView.of(key)

    async def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        key_id, _, secret = token.removeprefix(PREFIX).partition("_")
        async with AsyncSession(self._engine) as session:
            key = await session.get(ApiKey, key_id)
        if key is None or not hmac.compare_digest(key.secret_hash, _digest(secret)):
            raise Unauthorized("this API key is not valid")
        now = datetime.now(UTC)
        if key.revoked_at is not None:
            raise Unauthorized(f"API key {key.id} ({key.name}) was revoked")
        if key.expires_at is not None and _aware(key.expires_at) <= now:
            raise Unauthorized(
                f"API key {key.id} ({key.name}) expired on {key.expires_at:%Y-%m-%d}"
            )
        principal = Principal(
            subject=key.name,
            tenant=key.tenant,
            scopes=frozenset(key.scopes.split()),
            groups=frozenset(key.groups.split()),
            credential=f"key:{key.id}",
        )
        self._verified[token] = (principal, time.monotonic() + CACHE_SECONDS)
        return principal


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class OidcTokens:
    """JWTs of one OIDC issuer, checked against its JWKS (cached)."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        assert settings.OIDC_ISSUER is not None
        self.issuer, self.audience = settings.OIDC_ISSUER.rstrip("/"), settings.OIDC_AUDIENCE
        self._settings, self._http = settings, http
        self._keys: dict[str, Any] = {}
        self._fetched = 0.0

    async def verify(self, token: str) -> Principal:
        try:
            kid = jwt.get_unverified_header(token).get("kid", "")
            key = await self._key(kid)
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256", "ES256", "PS256", "EdDSA"],
                audience=self.audience,
                issuer=self.issuer,
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"bearer token refused: {exc}") from None
        s = self._settings
        tenant = claims.get(s.OIDC_TENANT_CLAIM)
        if not isinstance(tenant, str) or not tenant:
            raise Unauthorized(f"the token has no {s.OIDC_TENANT_CLAIM!r} claim naming a tenant")
        return Principal(
            subject=str(claims.get("sub", "")),
            tenant=tenant,
            scopes=frozenset(_claim_list(claims.get(s.OIDC_SCOPE_CLAIM))),
            groups=frozenset(_claim_list(claims.get(s.OIDC_GROUPS_CLAIM))),
            credential=f"jwt:{self.issuer}",
        )

    async def _key(self, kid: str) -> Any:
        stale = time.monotonic() - self._fetched > JWKS_SECONDS
        if stale or (kid not in self._keys and time.monotonic() - self._fetched > 60):
            await self._fetch()
        if kid not in self._keys:
            raise jwt.InvalidKeyError(f"no signing key {kid!r} at the issuer")
        return self._keys[kid]

    async def _fetch(self) -> None:
        try:
            config = (
                await self._http.get(f"{self.issuer}/.well-known/openid-configuration")
            ).json()
            jwks = (await self._http.get(config["jwks_uri"])).json()
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise Unauthorized(f"the OIDC issuer {self.issuer} could not be read: {exc}") from None
        self._keys = {k.get("kid", ""): jwt.PyJWK(k).key for k in jwks.get("keys", [])}
        self._fetched = time.monotonic()


def _claim_list(value: object) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


class Authenticator:
    """A token to a Principal: acc API keys, else OIDC JWTs when an issuer is set."""

    def __init__(self, keys: ApiKeys, oidc: OidcTokens | None = None) -> None:
        self.keys, self._oidc = keys, oidc

    async def principal(self, token: str) -> Principal:
        if token.startswith(PREFIX):
            return await self.keys.verify(token)
        if self._oidc is not None:
            return await self._oidc.verify(token)
        raise Unauthorized("this credential is not an acc API key, and no OIDC issuer is set")
