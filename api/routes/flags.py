"""`/v1/flags`: the feature flags as they stand for the caller's tenant (core/flags.py),
with the share of tenants each is rolled out to. Changing the flags file changes the
answer on the next call, without a restart."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import FlagsDep
from api.security import Reader

router = APIRouter(prefix="/v1/flags", tags=["flags"])


class FlagView(BaseModel):
    name: str
    enabled: bool = Field(description="Whether the flag is on for the caller's tenant")
    variant: str | None
    reason: str | None = Field(description="Why: STATIC, TARGETING_MATCH, DEFAULT, ERROR...")
    rollout: float | None = Field(
        description="Share of tenants (0..1) it is on for; null for rules other than a "
        "percentage rollout"
    )


class FlagsView(BaseModel):
    tenant: str
    source: str | None = Field(description="The flags file (ACC_FLAGS_FILE); null: all off")
    error: str | None = Field(description="Why the file's latest version was not loaded")
    flags: list[FlagView]


@router.get("", operation_id="flags-list")
async def list_flags(caller: Reader, flags: FlagsDep) -> FlagsView:
    """Every known flag, evaluated for the caller's tenant."""
    details = flags.evaluate(caller.tenant)
    return FlagsView(
        tenant=caller.tenant,
        source=str(flags.provider.path) if flags.provider.path else None,
        error=flags.provider.error,
        flags=[
            FlagView(
                name=name,
                enabled=bool(d.value),
                variant=d.variant,
                reason=str(d.reason) if d.reason else None,
                rollout=flags.provider.rollout(name),
            )
            for name, d in details.items()
        ],
    )
