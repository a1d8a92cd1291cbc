"""`/v1/reviews` on real SQL: a review of an allowed root stored by tenant, roots and paths
out of bounds refused, feedback recalibrating a rule's confidence for the team, accepted
fixes as one patch, and team standards set over the API."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import Settings
from tests.conftest import api_client

pytestmark = pytest.mark.integration
APP = (
    "import hashlib\nimport yaml\n\n\n"
    "def load(t):\n    return yaml.load(t)\n\n\n"
    "def h(d):\n    return hashlib.md5(d)\n"
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "allowed" / "repo"
    root.mkdir(parents=True)
    (root / "app.py").write_text(APP)
    (tmp_path / "elsewhere").mkdir()
    return root


@pytest.fixture
async def http(
    tree: Path, make_settings: Callable[..., Settings]
) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    settings = make_settings(REVIEW_ROOTS=(tree.parent,))
    async with api_client(settings, scopes=("admin",)) as client:
        yield client, settings


async def create(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    resp = await http.post("/v1/reviews", json=body)
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()
    return result


def by_rule(review: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(s for s in review["suggestions"] if s["rule_id"] == rule_id)


async def test_a_review_is_stored_for_its_tenant_only(
    http: tuple[httpx.AsyncClient, Settings], tree: Path
) -> None:
    client, settings = http
    review = await create(client, root=str(tree))
    unsafe = by_rule(review, "python.security.yaml-unsafe-load")
    assert unsafe["replacement"] == "yaml.safe_load(t)" and unsafe["cwe"] == "CWE-502"
    again = await client.get(f"/v1/reviews/{review['id']}")
    assert again.status_code == 200 and again.json()["suggestions"] == review["suggestions"]
    async with api_client(settings, scopes=("admin",), tenant="other") as other:
        hidden = await other.get(f"/v1/reviews/{review['id']}")
        assert hidden.status_code == 404
        refused = await other.post(
            f"/v1/reviews/{review['id']}/feedback",
            json={"suggestion_id": unsafe["id"], "action": "reject"},
        )
        assert refused.status_code == 404


async def test_roots_and_paths_outside_the_allowed_roots_are_refused(
    http: tuple[httpx.AsyncClient, Settings], tree: Path
) -> None:
    client, _ = http
    outside = await client.post("/v1/reviews", json={"root": str(tree.parents[1] / "elsewhere")})
    assert outside.status_code == 403
    assert outside.json()["error"]["details"] == {"field": "root"}
    sneaky = await client.post("/v1/reviews", json={"root": f"{tree}/../../elsewhere"})
    assert sneaky.status_code == 403
    nul = await client.post("/v1/reviews", json={"root": f"{tree}/\u0000"})
    assert nul.status_code == 403
    escape = await client.post("/v1/reviews", json={"root": str(tree), "paths": ["../../"]})
    assert escape.status_code == 403 and "outside" in escape.json()["error"]["message"]
    missing = await client.post("/v1/reviews", json={"root": str(tree / "gone")})
    assert missing.status_code == 404
    unknown_ref = await client.post("/v1/reviews", json={"root": str(tree), "diff_ref": "nope"})
    assert unknown_ref.status_code == 409
    for bad_body in ({"min_confidence": 2}, {"min_confidence": False}, {"staged": "yes"}):
        bad = await client.post("/v1/reviews", json={"root": str(tree), **bad_body})
        assert bad.status_code == 422, bad_body


async def test_feedback_recalibrates_the_rule_for_the_team(
    http: tuple[httpx.AsyncClient, Settings], tree: Path
) -> None:
    client, _ = http
    review = await create(client, root=str(tree), team="web")
    weak = by_rule(review, "python.security.weak-hash")
    assert weak["confidence"] == 0.5
    for _ in range(5):
        resp = await client.post(
            f"/v1/reviews/{review['id']}/feedback",
            json={"suggestion_id": weak["id"], "action": "reject", "comment": "checksums"},
        )
        assert resp.status_code == 201, resp.text
    assert resp.json()["confidence"] == pytest.approx(5 / 15, abs=1e-3)  # Beta(5, 5) + 5 fails
    later = await create(client, root=str(tree), team="web")
    assert by_rule(later, "python.security.weak-hash")["confidence"] == pytest.approx(
        5 / 15, abs=1e-3
    )
    other_team = await create(client, root=str(tree), team="data")
    data_review = by_rule(other_team, "python.security.weak-hash")
    assert data_review["confidence"] == pytest.approx(5 / 15, abs=1e-3)  # inherits the tenant's
    accepted = await client.post(
        f"/v1/reviews/{other_team['id']}/feedback",
        json={"suggestion_id": data_review["id"], "action": "accept"},
    )
    # data's prior is web's posterior (5/15, worth 10), plus its own acceptance: 4.33/11
    assert accepted.json()["confidence"] == pytest.approx((5 / 15 * 10 + 1) / 11, abs=1e-3)
    stats = (await client.get("/v1/reviews/rules", params={"team": "web"})).json()
    row = next(r for r in stats if r["rule_id"] == "python.security.weak-hash")
    assert row["rejected"] == 5 and row["acceptance_rate"] == 0.0 and row["prior"] == 0.5
    unknown = await client.post(
        f"/v1/reviews/{review['id']}/feedback", json={"suggestion_id": "nope", "action": "accept"}
    )
    assert unknown.status_code == 404


async def test_accepted_fixes_come_back_as_one_patch_git_applies(
    http: tuple[httpx.AsyncClient, Settings], tree: Path
) -> None:
    client, _ = http
    review = await create(client, root=str(tree))
    ids = [s["id"] for s in review["suggestions"] if s["replacement"]]
    resp = await client.post(f"/v1/reviews/{review['id']}/patch", json={"suggestion_ids": ids})
    assert resp.status_code == 200 and resp.headers["x-acc-left-out"] == ""
    (tree.parent / "fix.patch").write_text(resp.text)
    apply = ["git", "-C", str(tree), "apply", str(tree.parent / "fix.patch")]
    await asyncio.to_thread(subprocess.run, ["git", "init", "-q", str(tree)], check=True)
    await asyncio.to_thread(subprocess.run, apply, check=True)
    assert "yaml.safe_load(t)" in (tree / "app.py").read_text()


async def test_team_standards_set_over_the_api_apply_to_its_reviews(
    http: tuple[httpx.AsyncClient, Settings], tree: Path
) -> None:
    client, _ = http
    put = await client.put(
        "/v1/reviews/standards/web",
        json={"disabled": ["python.security.weak-*"], "min_severity": "warning"},
    )
    assert put.status_code == 200, put.text
    assert (await client.get("/v1/reviews/standards/web")).json()["disabled"] == [
        "python.security.weak-*"
    ]
    review = await create(client, root=str(tree), team="web")
    assert {s["rule_id"] for s in review["suggestions"]} == {"python.security.yaml-unsafe-load"}
    bad = await client.put("/v1/reviews/standards/web", json={"max_cyclomatic": 0})
    assert bad.status_code == 422


async def test_reviews_are_listed_newest_first_with_their_latest_feedback(
    http: tuple[httpx.AsyncClient, Settings], tree: Path
) -> None:
    client, settings = http
    first = await create(client, root=str(tree), team="web")
    second = await create(client, root=str(tree), team="data", categories=["security"])
    listed = (await client.get("/v1/reviews")).json()
    assert [r["id"] for r in listed[:2]] == [second["id"], first["id"]]
    assert listed[0]["team"] == "data" and listed[0]["files"] == 1
    assert listed[0]["suggestions"] == len(second["suggestions"])
    assert listed[0]["by_category"] == {"security": len(second["suggestions"])}
    assert len((await client.get("/v1/reviews", params={"limit": 1})).json()) == 1
    unsafe = by_rule(second, "python.security.yaml-unsafe-load")
    for action in ("reject", "accept"):
        sent = await client.post(
            f"/v1/reviews/{second['id']}/feedback",
            json={"suggestion_id": unsafe["id"], "action": action},
        )
        assert sent.status_code == 201, sent.text
    again = (await client.get(f"/v1/reviews/{second['id']}")).json()
    assert again["feedback"] == {unsafe["id"]: "accept"}
    async with api_client(settings, scopes=("admin",), tenant="other") as other:
        assert (await other.get("/v1/reviews")).json() == []
