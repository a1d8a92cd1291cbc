"""`/v1/reports`: the caller's tenant's metrics over a range, as JSON or CSV."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response

from analytics import ranges, reports
from api.deps import EngineDep
from api.routes.analytics import EndQuery, RangeQuery, StartQuery, StepQuery
from api.security import Reader

router = APIRouter(prefix="/v1/reports", tags=["reports"])


@router.get(
    "",
    operation_id="reports-get",
    response_model=reports.Report,
    responses={200: {"content": {"text/csv": {}}}},
)
async def report(
    caller: Reader,
    engine: EngineDep,
    format: Literal["json", "csv"] = "json",
    range_: RangeQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    step: StepQuery = None,
) -> Response:
    """One row per step of the range (runs, completion rate, steps, mean step time, cost,
    tokens, quality); JSON adds the agent efficiency and pattern summaries. `format=csv`
    gives the rows as a CSV file."""
    rng = ranges.resolve(range_, start, end, step)
    built = await reports.build(engine, caller.tenant, rng)
    if format == "csv":
        name = f"acc-report-{rng.start:%Y%m%dT%H%M}-{rng.end:%Y%m%dT%H%M}.csv"
        return Response(
            reports.to_csv(built),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return Response(built.model_dump_json(), media_type="application/json")
