"""Transport security against real servers: mutual TLS to Temporal and to the Kafka broker
(through a TLS-terminating proxy: the dev server and Tansu listen in plain text only) and
to redis-server's own TLS listener. A client with the right files gets through; one
without its certificate, or trusting another CA, is refused."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.testing import WorkflowEnvironment

from core import bus, temporal
from core import redis as redis_client
from core.errors import ServiceUnavailable
from core.events import Event
from core.settings import load_settings
from core.transport import TransportConfigError, kafka_options
from tests.support import servers
from tests.support.tls import Pki, make_pki, tls_proxy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Certificates from another CA: a client holding these must not get in."""
    return make_pki(tmp_path_factory.mktemp("stranger"))


async def test_temporal_client_speaks_mutual_tls(
    temporal_env: WorkflowEnvironment, pki: Pki, stranger: Pki
) -> None:
    upstream = int(temporal_env.client.service_client.config.target_host.rsplit(":", 1)[1])
    async with tls_proxy(pki, upstream, alpn=["h2"]) as proxy:
        address = f"127.0.0.1:{proxy.port}"
        trusted = load_settings(
            TEMPORAL_ADDRESS=address,
            TEMPORAL_TLS_CA=pki.ca,
            TEMPORAL_TLS_CERT=pki.client_cert,
            TEMPORAL_TLS_KEY=pki.client_key,
            TEMPORAL_TLS_SERVER_NAME="localhost",
        )
        client = await temporal.connect(trusted)
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        assert info.server_version
        assert await client.count_workflows() is not None

        admitted = proxy.connections
        no_cert = trusted.model_copy(update={"TEMPORAL_TLS_CERT": None, "TEMPORAL_TLS_KEY": None})
        with pytest.raises(ServiceUnavailable):
            await temporal.connect(no_cert)

        other_ca = trusted.model_copy(update={"TEMPORAL_TLS_CA": stranger.ca})
        with pytest.raises(ServiceUnavailable):
            await temporal.connect(other_ca)

        plain = load_settings(TEMPORAL_ADDRESS=address)
        with pytest.raises(ServiceUnavailable):
            await temporal.connect(plain)
        assert proxy.connections == admitted  # no refused client ever reached the server


async def test_event_bus_speaks_mutual_tls_to_the_broker(tmp_path: Path, pki: Pki) -> None:
    proxy_port, broker_port = servers.free_ports(2)
    with servers.tansu(
        tmp_path / "tansu.log", port=broker_port, advertised=f"localhost:{proxy_port}"
    ):
        async with tls_proxy(pki, broker_port, port=proxy_port) as proxy:
            topic = f"tls-{uuid.uuid4().hex[:8]}"
            settings = load_settings(
                KAFKA_BOOTSTRAP=f"localhost:{proxy_port}",
                EVENTS_TOPIC=topic,
                KAFKA_SECURITY_PROTOCOL="SSL",
                KAFKA_TLS_CA=pki.ca,
                KAFKA_TLS_CERT=pki.client_cert,
                KAFKA_TLS_KEY=pki.client_key,
            )
            events = bus.EventBus.from_settings(settings)
            await events.start()
            sent = Event(type="run.started", source="test", run_id="r-tls", data={"via": "tls"})
            try:
                await events.publish(sent)
            finally:
                await events.stop()  # flushes
            consumer = bus.build_consumer(
                settings.kafka_bootstrap, topic, group_id=None, **kafka_options(settings)
            )
            await consumer.start()
            try:
                batch = await consumer.getmany(timeout_ms=10_000)
            finally:
                await consumer.stop()
            received = [Event.model_validate_json(m.value) for ms in batch.values() for m in ms]
            assert [e.id for e in received] == [sent.id]
            assert proxy.connections >= 2

            plain = settings.model_copy(update={"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"})
            with pytest.raises(Exception):  # noqa: B017  (aiokafka's error varies by step)
                await bus.list_topics(plain.kafka_bootstrap, **kafka_options(plain))


def _redis_with_tls() -> str:
    """The machine's redis-server (the bundled one is built without TLS)."""
    for candidate in (shutil.which("redis-server"), "/usr/bin/redis-server"):
        if candidate and "libssl" in _ldd(candidate):
            return candidate
    pytest.skip("no redis-server built with TLS on this machine (install Debian's redis-server)")


def _ldd(binary: str) -> str:
    try:
        return subprocess.run(["ldd", binary], capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""


async def test_redis_client_speaks_mutual_tls(tmp_path: Path, pki: Pki, stranger: Pki) -> None:
    binary = _redis_with_tls()
    port = servers.free_port()
    argv = [
        binary,
        *("--port", "0", "--tls-port", str(port), "--save", "", "--appendonly", "no"),
        *("--tls-cert-file", str(pki.server_cert), "--tls-key-file", str(pki.server_key)),
        *("--tls-ca-cert-file", str(pki.ca), "--tls-auth-clients", "yes"),
        *("--dir", str(tmp_path)),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        servers.wait_tcp(port)
        trusted = load_settings(
            REDIS_URL=f"rediss://127.0.0.1:{port}/0",
            REDIS_TLS_CA=pki.ca,
            REDIS_TLS_CERT=pki.client_cert,
            REDIS_TLS_KEY=pki.client_key,
        )
        client = redis_client.connect(trusted)
        try:
            assert await client.ping()
            await client.set("acc:tls", "yes")
            assert await client.get("acc:tls") == b"yes"
        finally:
            await client.aclose()

        for update in (
            {"REDIS_TLS_CERT": None, "REDIS_TLS_KEY": None},
            {"REDIS_TLS_CA": stranger.ca},
        ):
            client = redis_client.connect(trusted.model_copy(update=update))
            try:
                with pytest.raises(Exception):  # noqa: B017  (SSL or connection error)
                    await client.ping()
            finally:
                await client.aclose()

        with pytest.raises(TransportConfigError, match="rediss://"):
            redis_client.connect(
                trusted.model_copy(update={"REDIS_URL": f"redis://127.0.0.1:{port}/0"})
            )
    finally:
        servers.stop(proc)
