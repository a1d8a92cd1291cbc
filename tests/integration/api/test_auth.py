"""Who may call the API, and what they see: keys and OIDC tokens, scopes, tenants (another
tenant's data is never in an answer), approvals by group, rate limits, the audit log,
trusted hosts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core.settings import Settings
from tests.conftest import running_workers
from tests.support.oidc_issuer import OidcIssuer

pytestmark = pytest.mark.integration


def pipeline(name: str, words: str = "hello", **step: Any) -> dict[str, Any]:
    agent = {"backend": "shell", "command": ["echo", words]}
    return {"name": name, "steps": [{"name": "s", "agent": agent, **step}]}


@asynccontextmanager
async def app_for(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            yield app, http


async def key(app: Any, tenant: str, *scopes: str, groups: tuple[str, ...] = ()) -> dict[str, str]:
    _, token = await app.state.authenticator.keys.create(
        f"{tenant}-user", tenant, list(scopes), list(groups)
    )
    return {"X-API-Key": token}


@pytest.fixture
def settings(temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host)


async def test_credentials_and_scopes(settings: Settings) -> None:
    async with app_for(settings) as (app, http):
        missing = await http.get("/v1/runs")
        assert missing.status_code == 401 and "WWW-Authenticate" in missing.headers
        assert (await http.get("/v1/runs", headers={"X-API-Key": "acc_nope_x"})).status_code == 401
        reader = await key(app, "t1", "runs:read")
        assert (await http.get("/v1/runs", headers=reader)).status_code == 200
        forbidden = await http.post("/v1/runs", json=pipeline("x"), headers=reader)
        assert forbidden.status_code == 403 and "runs:write" in forbidden.json()["error"]["message"]
        bearer = {"Authorization": f"Bearer {reader['X-API-Key']}"}
        assert (await http.get("/v1/runs", headers=bearer)).status_code == 200
        admin = await key(app, "t1", "admin")
        made = (
            await http.post("/v1/keys", json={"name": "ci", "scopes": ["runs:read"]}, headers=admin)
        ).json()
        token = {"X-API-Key": made["token"]}
        assert (await http.get("/v1/runs", headers=token)).status_code == 200
        listed = (await http.get("/v1/keys", headers=admin)).json()
        assert made["token"] not in str(listed) and made["key"]["id"] in str(listed)
        await http.delete(f"/v1/keys/{made['key']['id']}", headers=admin)
        app.state.authenticator.keys._verified.clear()  # the cache a revocation outlives (10 s)
        revoked = await http.get("/v1/runs", headers=token)
        assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]
        assert (await http.get("/healthz")).status_code == 200  # probes stay open
        audit = (await http.get("/v1/audit", headers=admin)).json()
        actions = [(a["action"], a["status"]) for a in audit]
        assert ("POST /v1/keys", 201) in actions and ("DELETE /v1/keys/{key_id}", 200) in actions


async def test_oidc_tokens_are_checked_against_the_issuer(
    make_settings: Callable[..., Settings],
) -> None:
    with OidcIssuer() as issuer:
        settings = make_settings(OIDC_ISSUER=issuer.url, TEMPORAL_ADDRESS="127.0.0.1:9")
        async with app_for(settings) as (_, http):

            async def status(token: str) -> int:
                resp = await http.get("/v1/agents", headers={"Authorization": f"Bearer {token}"})
                return resp.status_code

            good = issuer.token(sub="ana", tenant="t1", scope="runs:read")
            assert await status(good) == 200
            assert (
                await status(issuer.token(sub="ana", tenant="t1", scope="runs:read", aud="other"))
                == 401
            )
            assert (
                await status(
                    issuer.token(sub="ana", tenant="t1", scope="runs:read", iss="http://elsewhere")
                )
                == 401
            )
            assert await status(issuer.token(kid="unknown", tenant="t1", scope="runs:read")) == 401
            assert await status(issuer.token(sub="ana", scope="runs:read")) == 401  # no tenant
            assert await status(issuer.token(sub="ana", tenant="t1", scope="agents:connect")) == 403


async def test_approval_by_group_rate_limits_and_hosts(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    limited = settings.model_copy(update={"API_RATE_LIMIT": 40})
    async with running_workers(temporal_env.client, limited), app_for(limited) as (app, http):
        writer = await key(app, "default", "runs:write", "runs:read")
        spec = pipeline("gated", approval={"reason": "release?", "group": "releases"})
        run_id = (await http.post("/v1/runs", json=spec, headers=writer)).json()["id"]
        for _ in range(100):
            if (await http.get(f"/v1/runs/{run_id}", headers=writer)).json()["status"] == "waiting":
                break
            await asyncio.sleep(0.05)
        outsider = await key(app, "default", "runs:approve")
        refused = await http.post(f"/v1/runs/{run_id}/approve", headers=outsider)
        assert refused.status_code == 409 and "releases" in refused.json()["error"]["message"]
        member = await key(app, "default", "runs:approve", groups=("releases",))
        approved = await http.post(
            f"/v1/runs/{run_id}/approve", json={"comment": "go"}, headers=member
        )
        assert approved.status_code == 200
        assert "approved by default-user: go" in " ".join(approved.json()["notes"])
        timeline = (await http.get(f"/v1/runs/{run_id}/timeline", headers=writer)).json()
        decided = [e for e in timeline["entries"] if e["kind"] == "update"]
        assert decided and '"by":"default-user"' in decided[-1]["input"]
        burst = [await http.get("/v1/agents", headers=writer) for _ in range(45)]
        limited_answers = [r for r in burst if r.status_code == 429]
        assert limited_answers and int(limited_answers[0].headers["Retry-After"]) >= 1
        foreign = await http.get("/healthz", headers={"Host": "evil.example"})
        assert foreign.status_code == 400


@hypothesis_settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    calls=st.lists(
        st.sampled_from(["start", "list", "get", "timeline", "cancel", "artifact"]),
        min_size=3,
        max_size=8,
    )
)
async def test_one_tenant_never_sees_anothers_data(
    temporal_env: WorkflowEnvironment, settings: Settings, calls: list[str]
) -> None:
    async with running_workers(temporal_env.client, settings), app_for(settings) as (app, http):
        a, b = await key(app, "tenant-a", "admin"), await key(app, "tenant-b", "admin")
        started = await http.post("/v1/runs", json=pipeline("of-a", "secret-of-a"), headers=a)
        mine = started.json()["id"]
        for call in calls:
            resp = await _call(http, call, b, mine)
            assert "secret-of-a" not in resp.text, call
            if call in ("get", "timeline", "cancel", "artifact"):
                assert resp.status_code == 404, (call, resp.text)
            else:  # b's own answers never name a's run
                assert mine not in resp.text, call
        own = await http.get(f"/v1/runs/{mine}", headers=a)
        assert own.status_code == 200


async def _call(http: httpx.AsyncClient, call: str, who: dict[str, str], other: str) -> Any:
    if call == "start":
        return await http.post("/v1/runs", json=pipeline("of-b"), headers=who)
    if call == "list":
        return await http.get("/v1/runs", headers=who)
    if call == "get":
        return await http.get(f"/v1/runs/{other}", headers=who)
    if call == "timeline":
        return await http.get(f"/v1/runs/{other}/timeline", headers=who)
    if call == "cancel":
        return await http.post(f"/v1/runs/{other}/cancel", headers=who)
    return await http.get("/v1/artifacts/" + "0" * 64, headers=who)


async def test_a_tenant_at_its_running_limit_is_told_to_wait(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    one = settings.model_copy(update={"TENANT_MAX_RUNNING": 1})
    async with running_workers(temporal_env.client, one), app_for(one) as (app, http):
        # Tenants of their own: the Temporal server is shared by the session's tests.
        suffix = uuid.uuid4().hex[:8]
        a = await key(app, f"limited-{suffix}", "admin")
        b = await key(app, f"other-{suffix}", "admin")
        gated = pipeline("gated", approval={"reason": "go?"})
        first = (await http.post("/v1/runs", json=gated, headers=a)).json()["id"]
        for _ in range(100):  # until the visibility store lists it as running
            listed = (await http.get("/v1/runs?status=running", headers=a)).json()
            if any(run["id"] == first for run in listed):
                break
            await asyncio.sleep(0.05)
        refused = await http.post("/v1/runs", json=pipeline("more"), headers=a)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["details"] == {"running": 1, "limit": 1}
        again = {**a, "Idempotency-Key": "first-again"}
        assert (
            await http.post("/v1/runs", json=pipeline("more"), headers=again)
        ).status_code == 429
        other = await http.post("/v1/runs", json=pipeline("theirs"), headers=b)
        assert other.status_code == 202, other.text
        await http.post(f"/v1/runs/{first}/approve", headers=a)
        done = (await http.get(f"/v1/runs/{first}", params={"wait": 30}, headers=a)).json()
        assert done["status"] == "completed"
        for _ in range(100):
            later = await http.post("/v1/runs", json=pipeline("later"), headers=a)
            if later.status_code != 429:
                break
            await asyncio.sleep(0.05)
        assert later.status_code == 202, later.text
