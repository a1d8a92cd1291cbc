"""`/v1/schema/run-spec`: the JSON Schema of run specs, for editors and generators."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from core.specs import run_spec_schema

router = APIRouter(prefix="/v1/schema", tags=["schema"])


@router.get("/run-spec", operation_id="schema-run-spec")
async def get_run_spec_schema() -> dict[str, Any]:
    """The JSON Schema every run spec is validated against (all patterns)."""
    return run_spec_schema()
