"""Transport settings become client options, and bad ones become errors naming the fix."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from core import db
from core.settings import load_settings
from core.transport import (
    TransportConfigError,
    database_ssl,
    kafka_options,
    redis_options,
    temporal_tls,
)
from tests.support.tls import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_plain_by_default() -> None:
    settings = load_settings()
    assert temporal_tls(settings) is False
    assert kafka_options(settings) == {"security_protocol": "PLAINTEXT"}
    assert redis_options(settings) == {}
    assert database_ssl(settings) is None


def test_temporal_tls_from_files(pki: Pki) -> None:
    assert temporal_tls(load_settings(TEMPORAL_TLS=True)) is True  # the system's roots
    config = temporal_tls(
        load_settings(
            TEMPORAL_TLS_CA=pki.ca,
            TEMPORAL_TLS_CERT=pki.client_cert,
            TEMPORAL_TLS_KEY=pki.client_key,
            TEMPORAL_TLS_SERVER_NAME="temporal.internal",
        )
    )
    assert isinstance(config, TLSConfig)
    assert config.server_root_ca_cert == pki.ca.read_bytes()
    assert config.client_private_key == pki.client_key.read_bytes()
    assert config.domain == "temporal.internal"
    with pytest.raises(TransportConfigError, match="go together"):
        temporal_tls(load_settings(TEMPORAL_TLS_CERT=pki.client_cert))
    with pytest.raises(TransportConfigError, match="cannot read"):
        temporal_tls(load_settings(TEMPORAL_TLS_CA=Path("/nonexistent/ca.pem")))


def test_kafka_sasl_ssl(pki: Pki) -> None:
    options = kafka_options(
        load_settings(
            KAFKA_SECURITY_PROTOCOL="SASL_SSL",
            KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
            KAFKA_SASL_USERNAME="acc",
            KAFKA_SASL_PASSWORD="s3cret",
            KAFKA_TLS_CA=pki.ca,
        )
    )
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("acc", "s3cret")
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    with pytest.raises(TransportConfigError, match="ACC_KAFKA_SASL_USERNAME"):
        kafka_options(load_settings(KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT"))
    with pytest.raises(TransportConfigError, match="needs its key"):
        kafka_options(load_settings(KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_TLS_CERT=pki.ca))


def test_redis_tls_needs_rediss(pki: Pki) -> None:
    options = redis_options(load_settings(REDIS_URL="rediss://cache:6380/0", REDIS_TLS_CA=pki.ca))
    assert options["ssl_ca_certs"] == str(pki.ca)
    assert options["ssl_cert_reqs"] == "required"
    with pytest.raises(TransportConfigError, match="rediss://"):
        redis_options(load_settings(REDIS_URL="redis://cache:6379/0", REDIS_TLS_CA=pki.ca))


def test_postgres_gets_a_verifying_context(pki: Pki) -> None:
    settings = load_settings(
        DATABASE_URL="postgresql://acc@db/acc",
        DATABASE_TLS_CA=pki.ca,
        DATABASE_TLS_CERT=pki.client_cert,
        DATABASE_TLS_KEY=pki.client_key,
    )
    context = database_ssl(settings)
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED
    passed = db.connect_args(settings)["ssl"]
    assert isinstance(passed, ssl.SSLContext) and passed.verify_mode == ssl.CERT_REQUIRED
    assert "ssl" not in db.connect_args(load_settings(DATABASE_URL="postgresql://acc@db/acc"))
