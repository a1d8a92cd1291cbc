"""TLS on the pool node: with ACC_POOL_TLS_CERT/_KEY it serves wss:// (and https:// for its
probes); agents and subscribers verify it against ACC_POOL_TLS_CA, and a client that does
not trust that CA, or speaks plain ws://, does not get in. Certificates are generated for
the test (tests/support/tls.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment
from websockets.asyncio.client import connect

from cli.probes import pool_probe
from core import db
from core.auth import ApiKeys
from core.settings import Settings
from core.transport import TransportConfigError, pool_client_tls, pool_server_tls
from pool.subscriber import subscribe
from tests.support.pool import connected, running_node, shell_agent
from tests.support.servers import free_port
from tests.support.tls import make_pki

pytestmark = pytest.mark.integration


async def test_a_node_serves_wss_that_agents_and_subscribers_verify(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    pki = make_pki(tmp_path / "pki")
    settings = make_settings(
        POOL_PORT=free_port(),
        POOL_TLS_CERT=pki.server_cert,
        POOL_TLS_KEY=pki.server_key,
        POOL_TLS_CA=pki.ca,
    )
    engine = db.create_engine(settings)
    await db.migrate(engine, settings.DATABASE_SCHEMA)
    _, agent_key = await ApiKeys(engine).create("laptop", settings.TENANT, ["agents:connect"])
    _, reader = await ApiKeys(engine).create("reader", settings.TENANT, ["runs:read"])
    await engine.dispose()
    agent_id = f"tls-{uuid.uuid4().hex[:6]}"
    async with running_node(settings, temporal_env.client) as node:
        assert node.url.startswith("wss://") and settings.pool_urls == [node.url]
        tls = pool_client_tls(settings, node.url)
        assert tls is not None
        async with httpx.AsyncClient(verify=tls) as http:
            ready = await http.get(node.url.replace("wss://", "https://") + "/readyz")
        probed = await pool_probe(settings)  # `acc doctor`: https:// with the same CA

        seen: list[dict[str, object]] = []

        async def follow() -> None:
            async for _, event in subscribe([node.url], reader, "agents", tls=tls):
                seen.append(event)
                if event["type"] == "pool.registered":
                    return

        following = asyncio.create_task(follow())
        await asyncio.sleep(0.5)  # subscribed before the agent connects
        agent = shell_agent(settings, [node.url], agent_key, agent_id, ["echo"], command="cat")
        async with connected(agent):
            await asyncio.wait_for(following, 30)

        # Not trusting the test CA (the system's roots), or plain ws://: no way in.
        with pytest.raises(ConnectionError):
            async for _ in subscribe([node.url], reader, "agents", attempts=1):
                pass
        plain = node.url.replace("wss://", "ws://")
        with pytest.raises(Exception):  # noqa: B017 - the handshake fails, however it says so
            async with connect(plain, open_timeout=5):
                pass

    assert ready.status_code == 200 and probed is None
    assert seen[-1]["type"] == "pool.registered"
    assert seen[-1]["data"]["agent"] == agent_id  # type: ignore[index]


def test_a_certificate_without_its_key_is_refused(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    pki = make_pki(tmp_path / "pki")
    with pytest.raises(TransportConfigError, match="ACC_POOL_TLS_KEY"):
        pool_server_tls(make_settings(POOL_TLS_CERT=pki.server_cert))
    assert pool_server_tls(make_settings()) is None
    assert pool_client_tls(make_settings(), "ws://127.0.0.1:1") is None
