"""`/v1/artifacts`: large step outputs, stored by content hash."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import ArtifactsDep
from api.errors import documented
from api.security import Reader
from core.errors import NotFound

router = APIRouter(prefix="/v1/artifacts", tags=["artifacts"])


@router.get(
    "/{artifact_id}",
    operation_id="artifacts-get",
    response_class=Response,
    responses=documented(404),
)
async def get_artifact(caller: Reader, artifact_id: str, artifacts: ArtifactsDep) -> Response:
    """The raw content of an artifact (e.g. a step output too large to keep inline)."""
    artifact = await artifacts.get(caller.tenant, artifact_id)
    if artifact is None:
        raise NotFound(f"artifact {artifact_id} not found", {"id": artifact_id})
    return Response(artifact.content, media_type=artifact.media_type)
