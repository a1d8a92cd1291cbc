"""`/v1/reviews`: code review over the API (review/). A review reads files on the API's
machine, so its root must lie under one of ACC_REVIEW_ROOTS; anything else is refused
(422 naming `root`). Reviews, their feedback and team standards are the caller's
tenant's: another tenant's review is a 404."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import EngineDep, SettingsDep
from api.errors import documented
from api.security import Admin, Reader, Writer
from core.auth import Forbidden
from core.errors import Conflict, NotFound, ServiceUnavailable
from core.settings import Settings
from review import patches, semgrep
from review import standards as standards_file
from review.engine import ReviewInputError, review
from review.learning import Counts, calibrated
from review.models import CATEGORIES, Category, Report, ReviewRequest, Severity
from review.rules import rules_by_id
from review.standards import Standards
from review.store import Action, ReviewStore

router = APIRouter(prefix="/v1/reviews", tags=["reviews"])
TEAM = Field("default", min_length=1, max_length=200, pattern=r"^[\w.-]+$")


class ReviewCreate(BaseModel):
    model_config = ConfigDict(strict=True)

    root: str = Field(min_length=1, max_length=4096, description="Under ACC_REVIEW_ROOTS")
    paths: list[str] = Field(default_factory=lambda: ["."], min_length=1, max_length=1000)
    diff_ref: str | None = Field(None, max_length=200, description="Only lines changed since")
    staged: bool = False
    team: str = TEAM
    categories: list[Category] = Field(default_factory=lambda: list(CATEGORIES), min_length=1)
    min_severity: Severity = "info"
    min_confidence: float = Field(0.0, ge=0, le=1)


class ReviewView(Report):
    id: str
    team: str
    feedback: dict[str, Action] = Field(
        default_factory=dict, description="Suggestion id -> the latest feedback on it"
    )


class ReviewSummary(BaseModel):
    id: str
    team: str
    root: str
    created_at: datetime
    diff_ref: str | None
    files: int = Field(description="Files reviewed")
    suggestions: int
    by_category: dict[str, int] = Field(description="Suggestions per category")


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(strict=True)

    suggestion_id: str = Field(min_length=1, max_length=40)
    action: Action
    comment: str | None = Field(None, max_length=10_000)


class FeedbackView(BaseModel):
    rule_id: str
    action: Action
    confidence: float = Field(description="The rule's confidence for the team, recalibrated")


class PatchCreate(BaseModel):
    model_config = ConfigDict(strict=True)

    suggestion_ids: list[str] = Field(min_length=1, max_length=10_000)


class RuleStats(BaseModel):
    rule_id: str
    category: str
    prior: float
    confidence: float
    accepted: int
    rejected: int
    modified: int
    acceptance_rate: float | None


def _allowed_root(settings: Settings, root: str) -> Path:
    """The root as an absolute path under ACC_REVIEW_ROOTS; 403 otherwise (no roots set, a
    path elsewhere, or one no file system has, such as one with a NUL byte)."""
    try:
        path = Path(root).expanduser().resolve()
    except (ValueError, RuntimeError):  # NUL byte, symlink loop, unknown ~user
        path = None
    for allowed in settings.REVIEW_ROOTS:
        if path is not None and path.is_relative_to(allowed.expanduser().resolve()):
            return path
    reason = (
        "no review roots are configured: set ACC_REVIEW_ROOTS to the folders the API may read"
        if not settings.REVIEW_ROOTS
        else f"{root!r} is outside the allowed review roots (ACC_REVIEW_ROOTS)"
    )
    raise Forbidden(reason, {"field": "root"})


async def _found(store: ReviewStore, tenant: str, review_id: str) -> tuple[str, Report]:
    found = await store.get(tenant, review_id)
    if found is None:
        raise NotFound(f"review {review_id} not found", {"id": review_id})
    return found


@router.post("", operation_id="reviews-create", status_code=201, responses=documented(404, 409))
async def create_review(
    caller: Writer, body: ReviewCreate, settings: SettingsDep, engine: EngineDep
) -> ReviewView:
    """Review files under an allowed root: findings with confidence (calibrated by the
    team's feedback), explanation, category and fix; the report is stored."""
    root = _allowed_root(settings, body.root)
    store = ReviewStore(engine)
    team = await store.standards(caller.tenant, body.team)
    try:
        team_standards = team or standards_file.for_root(root, settings.REVIEW_STANDARDS_FILE)
    except standards_file.StandardsError as exc:  # the tree's own standards file is bad
        raise Conflict(str(exc), {"field": "root"}) from None
    calibration = await store.calibration(caller.tenant, body.team)
    request = ReviewRequest(
        root=str(root),
        paths=body.paths,
        diff_ref=body.diff_ref,
        staged=body.staged,
        categories=body.categories,
        min_severity=body.min_severity,
        min_confidence=body.min_confidence,
    )
    try:
        report = await asyncio.to_thread(
            review,
            request,
            standards=team_standards,
            calibration=calibration,
            semgrep_binary=settings.REVIEW_SEMGREP,
            max_file_bytes=settings.REVIEW_MAX_FILE_BYTES,
            timeout=settings.REVIEW_TIMEOUT_SECONDS,
        )
    except ReviewInputError as exc:
        error = {"missing": NotFound, "outside": Forbidden}.get(exc.kind, Conflict)
        raise error(str(exc), {"field": "root" if exc.kind == "missing" else "paths"}) from None
    except semgrep.SemgrepUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from None
    review_id = await store.save(caller.tenant, body.team, report)
    return ReviewView(id=review_id, team=body.team, **report.model_dump())


@router.get("", operation_id="reviews-list")
async def list_reviews(
    caller: Reader,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ReviewSummary]:
    """The tenant's latest reviews, newest first, with their suggestions per category."""
    out: list[ReviewSummary] = []
    for row, report in await ReviewStore(engine).recent(caller.tenant, limit):
        by_category: dict[str, int] = {}
        for suggestion in report.suggestions:
            by_category[suggestion.category] = by_category.get(suggestion.category, 0) + 1
        out.append(
            ReviewSummary(
                id=row.id,
                team=row.team,
                root=row.root,
                created_at=row.created_at,
                diff_ref=report.diff_ref,
                files=len(report.files),
                suggestions=len(report.suggestions),
                by_category=by_category,
            )
        )
    return out


@router.get("/rules", operation_id="reviews-rules")
async def rule_stats(
    caller: Reader, engine: EngineDep, team: str = Query("default", max_length=200)
) -> list[RuleStats]:
    """Every shipped rule: its prior, its confidence for the team, and its feedback."""
    store = ReviewStore(engine)
    by_team = await store.counts(caller.tenant)
    out: list[RuleStats] = []
    for rule_id, rule in sorted(rules_by_id().items()):
        tenant_counts = sum((c for (_, r), c in by_team.items() if r == rule_id), start=Counts())
        own = by_team.get((team, rule_id), Counts())
        out.append(
            RuleStats(
                rule_id=rule_id,
                category=rule.category,
                prior=rule.confidence,
                confidence=round(calibrated(rule.confidence, tenant_counts - own, own), 4),
                accepted=own.accepted,
                rejected=own.rejected,
                modified=own.modified,
                acceptance_rate=own.acceptance_rate,
            )
        )
    return out


@router.get("/standards/{team}", operation_id="reviews-standards-get")
async def get_standards(caller: Reader, team: str, engine: EngineDep) -> Standards:
    """The team's standards (the defaults when none were set)."""
    return await ReviewStore(engine).standards(caller.tenant, team) or Standards()


@router.put("/standards/{team}", operation_id="reviews-standards-put")
async def put_standards(caller: Admin, team: str, body: Standards, engine: EngineDep) -> Standards:
    """Set the team's standards: rules on/off, severities, thresholds."""
    await ReviewStore(engine).put_standards(caller.tenant, team, body)
    return body


@router.get("/{review_id}", operation_id="reviews-get", responses=documented(404))
async def get_review(caller: Reader, review_id: str, engine: EngineDep) -> ReviewView:
    """A review's report, with the latest feedback on each of its suggestions."""
    store = ReviewStore(engine)
    team, report = await _found(store, caller.tenant, review_id)
    feedback = await store.feedback(caller.tenant, review_id)
    return ReviewView(id=review_id, team=team, feedback=feedback, **report.model_dump())


@router.post(
    "/{review_id}/feedback",
    operation_id="reviews-feedback",
    status_code=201,
    responses=documented(404),
)
async def add_feedback(
    caller: Writer, review_id: str, body: FeedbackCreate, engine: EngineDep
) -> FeedbackView:
    """Accept, reject or modify a suggestion; the rule's confidence for the team moves."""
    store = ReviewStore(engine)
    team, report = await _found(store, caller.tenant, review_id)
    suggestion = next((s for s in report.suggestions if s.id == body.suggestion_id), None)
    if suggestion is None:
        raise NotFound(
            f"review {review_id} has no suggestion {body.suggestion_id}",
            {"suggestion_id": body.suggestion_id},
        )
    await store.add_feedback(
        caller.tenant, team, review_id, suggestion, body.action, body.comment, caller.subject
    )
    confidence = (await store.calibration(caller.tenant, team))[suggestion.rule_id]
    return FeedbackView(
        rule_id=suggestion.rule_id, action=body.action, confidence=round(confidence, 4)
    )


@router.post(
    "/{review_id}/patch",
    operation_id="reviews-patch",
    response_class=Response,
    responses={200: {"content": {"text/x-diff": {}}}, **documented(404)},
)
async def patch(caller: Reader, review_id: str, body: PatchCreate, engine: EngineDep) -> Response:
    """The accepted suggestions' fixes as one patch `git apply` takes (relative to the
    review's root). Suggestions without a fix, or whose text changed since, are named in
    the X-Acc-Left-Out header."""
    _, report = await _found(ReviewStore(engine), caller.tenant, review_id)
    wanted = set(body.suggestion_ids)
    chosen = [s for s in report.suggestions if s.id in wanted]
    unknown = wanted - {s.id for s in chosen}
    if unknown:
        raise NotFound(f"no such suggestions: {sorted(unknown)}", {"ids": sorted(unknown)})
    text, left_out = await asyncio.to_thread(patches.combine, Path(report.root), chosen)
    headers = {"X-Acc-Left-Out": ",".join(s.id for s in left_out)}
    return Response(text, media_type="text/x-diff", headers=headers)
