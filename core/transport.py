"""Transport security of acc's connections, from settings: TLS to Temporal, the Kafka
broker, Redis and PostgreSQL (mutual TLS when a client certificate and key are given) and
SASL to Kafka; and TLS on the WebSocket pool's nodes (`pool_server_tls`), which its
agents and subscribers verify (`pool_client_tls`). Each client is built in one place
(core/temporal.py, core/bus.py, core/redis.py, core/db.py) and takes its options from here.

A CA file replaces the system's trust store for that server; without one, the server's
certificate must chain to the system's roots. Certificates are always verified and host
names checked: there is no setting that turns verification off.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from temporalio.service import TLSConfig

from core.errors import AccError
from core.settings import Settings


class TransportConfigError(AccError):
    """A TLS setting names a file that cannot be used."""

    status_code = 500
    type = "transport_config"


def ssl_context(ca: Path | None, cert: Path | None, key: Path | None, what: str) -> ssl.SSLContext:
    """A client context verifying the server (against `ca`, or the system's roots) and
    presenting `cert`/`key` when given."""
    if (cert is None) != (key is None):
        raise TransportConfigError(
            f"{what}: a client certificate needs its key, and the key its certificate"
        )
    try:
        context = ssl.create_default_context(cafile=str(ca.expanduser()) if ca else None)
        if cert is not None and key is not None:
            context.load_cert_chain(cert.expanduser(), key.expanduser())
    except (OSError, ssl.SSLError) as exc:
        raise TransportConfigError(f"{what}: cannot load the TLS files: {exc}") from exc
    return context


def _read(path: Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.expanduser().read_bytes()
    except OSError as exc:
        raise TransportConfigError(f"{what}: cannot read {path}: {exc}") from exc


def temporal_tls(settings: Settings) -> TLSConfig | bool:
    """The Temporal client's `tls` argument: False, True (system roots) or a TLSConfig."""
    files = (settings.TEMPORAL_TLS_CA, settings.TEMPORAL_TLS_CERT, settings.TEMPORAL_TLS_KEY)
    if not settings.TEMPORAL_TLS and not any(files) and not settings.TEMPORAL_TLS_SERVER_NAME:
        return False
    if (settings.TEMPORAL_TLS_CERT is None) != (settings.TEMPORAL_TLS_KEY is None):
        raise TransportConfigError(
            "Temporal: ACC_TEMPORAL_TLS_CERT and ACC_TEMPORAL_TLS_KEY go together"
        )
    if not any(files) and not settings.TEMPORAL_TLS_SERVER_NAME:
        return True
    return TLSConfig(
        server_root_ca_cert=_read(settings.TEMPORAL_TLS_CA, "Temporal CA"),
        client_cert=_read(settings.TEMPORAL_TLS_CERT, "Temporal client certificate"),
        client_private_key=_read(settings.TEMPORAL_TLS_KEY, "Temporal client key"),
        domain=settings.TEMPORAL_TLS_SERVER_NAME,
    )


def kafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments every aiokafka client (producer, consumer, admin) takes."""
    protocol = settings.KAFKA_SECURITY_PROTOCOL
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl_context(
            settings.KAFKA_TLS_CA, settings.KAFKA_TLS_CERT, settings.KAFKA_TLS_KEY, "Kafka"
        )
    if protocol.startswith("SASL"):
        if not settings.KAFKA_SASL_USERNAME or settings.KAFKA_SASL_PASSWORD is None:
            raise TransportConfigError(
                f"Kafka: {protocol} needs ACC_KAFKA_SASL_USERNAME and ACC_KAFKA_SASL_PASSWORD"
            )
        options.update(
            sasl_mechanism=settings.KAFKA_SASL_MECHANISM,
            sasl_plain_username=settings.KAFKA_SASL_USERNAME,
            sasl_plain_password=settings.KAFKA_SASL_PASSWORD.get_secret_value(),
        )
    return options


def redis_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `Redis.from_url`: the CA and client files of a rediss:// URL."""
    if not settings.redis_url.startswith("rediss://"):
        if settings.REDIS_TLS_CA or settings.REDIS_TLS_CERT:
            raise TransportConfigError(
                "Redis: TLS files are set but ACC_REDIS_URL is not rediss://; use rediss://"
            )
        return {}
    ssl_context(settings.REDIS_TLS_CA, settings.REDIS_TLS_CERT, settings.REDIS_TLS_KEY, "Redis")
    options: dict[str, Any] = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
    if settings.REDIS_TLS_CA:
        options["ssl_ca_certs"] = str(settings.REDIS_TLS_CA.expanduser())
    if settings.REDIS_TLS_CERT and settings.REDIS_TLS_KEY:
        options["ssl_certfile"] = str(settings.REDIS_TLS_CERT.expanduser())
        options["ssl_keyfile"] = str(settings.REDIS_TLS_KEY.expanduser())
    return options


def database_ssl(settings: Settings) -> ssl.SSLContext | None:
    """The asyncpg `ssl` argument for PostgreSQL, or None for a plain connection."""
    files = (settings.DATABASE_TLS_CA, settings.DATABASE_TLS_CERT, settings.DATABASE_TLS_KEY)
    if not settings.DATABASE_TLS and not any(files):
        return None
    return ssl_context(*files, "PostgreSQL")


def pool_server_tls(settings: Settings) -> ssl.SSLContext | None:
    """The pool node's server context: wss:// when ACC_POOL_TLS_CERT and _KEY are set."""
    cert, key = settings.POOL_TLS_CERT, settings.POOL_TLS_KEY
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise TransportConfigError(
            "pool: ACC_POOL_TLS_CERT and ACC_POOL_TLS_KEY go together (set both to serve wss://)"
        )
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert.expanduser(), key.expanduser())
    except (OSError, ssl.SSLError) as exc:
        raise TransportConfigError(f"pool: cannot load the node's TLS files: {exc}") from exc
    return context


def pool_client_tls(settings: Settings, url: str) -> ssl.SSLContext | None:
    """What an agent or subscriber verifies a node at `url` with: for wss://, the
    ACC_POOL_TLS_CA bundle (or the system's roots), host name checked; ws://: none."""
    if not url.startswith("wss://"):
        return None
    return ssl_context(settings.POOL_TLS_CA, None, None, "pool")
