"""The Temporal client every acc process uses, and the search attributes runs carry."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
from temporalio.client import Client, Interceptor
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from core.errors import ServiceUnavailable
from core.settings import Settings
from core.transport import temporal_tls

PATTERN = SearchAttributeKey.for_keyword("AccPattern")
TENANT = SearchAttributeKey.for_keyword("AccTenant")
RUN_NAME = SearchAttributeKey.for_keyword("AccRunName")
QUALITY = SearchAttributeKey.for_float("AccQuality")
STATUS = SearchAttributeKey.for_keyword("AccStatus")  # "waiting" while a person must act

SEARCH_ATTRIBUTES = {
    PATTERN.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    TENANT.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    RUN_NAME.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    QUALITY.name: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    STATUS.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}


def dev_server_search_attribute_args() -> list[str]:
    """`--search-attribute` flags registering our attributes when a dev server starts."""
    names = {
        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
        IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE: "Double",
    }
    args: list[str] = []
    for name, kind in SEARCH_ATTRIBUTES.items():
        args += ["--search-attribute", f"{name}={names[kind]}"]
    return args


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic models on the wire, encrypted when the settings hold payload keys."""
    keys = settings.payload_keys()
    if keys is None:
        return pydantic_data_converter
    from core.codec import EncryptionCodec, parse_keys  # cryptography, when keys are set

    # Failure messages too: an agent's error can quote what it was given.
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(parse_keys(keys)),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime whose SDK metrics (temporal_* series: task latencies, slots,
    polls, requests) Prometheus can read on 127.0.0.1:ACC_SDK_METRICS_PORT; None when
    unset. One per process: it owns the port."""
    if settings.SDK_METRICS_PORT is None:
        return None
    bind = f"127.0.0.1:{settings.SDK_METRICS_PORT}"
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind)))


async def connect(
    settings: Settings,
    *,
    lazy: bool = False,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """Connect to Temporal, or raise ServiceUnavailable naming the address that was tried.

    A `lazy` client connects on its first call (and again on later calls until it does):
    a process that serves while Temporal is down uses one, and each call that cannot
    connect raises RuntimeError("Failed client connect: ...") (`is_connect_failure`)."""
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.TEMPORAL_NAMESPACE,
            data_converter=data_converter(settings),
            tls=temporal_tls(settings),
            lazy=lazy,
            runtime=runtime,
            interceptors=interceptors,
        )
    except RuntimeError as exc:
        raise ServiceUnavailable(
            f"Temporal is unreachable at {settings.temporal_address}",
            details={"address": settings.temporal_address, "reason": str(exc)},
        ) from exc


def is_connect_failure(exc: BaseException) -> bool:
    """Whether `exc` is a lazy client failing to connect (Temporal unreachable)."""
    return isinstance(exc, RuntimeError) and str(exc).startswith("Failed client connect")


async def ensure_search_attributes(client: Client) -> None:
    """Register acc's search attributes on the namespace if they are missing."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = {k: v for k, v in SEARCH_ATTRIBUTES.items() if k not in existing.custom_attributes}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )


async def set_retention(client: Client, days: int) -> None:
    """Keep closed runs' histories (the replay source) for `days` days."""
    config = NamespaceConfig()
    config.workflow_execution_retention_ttl.FromTimedelta(timedelta(days=days))
    await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(namespace=client.namespace, config=config)
    )


async def retention(client: Client) -> timedelta:
    """How long the namespace keeps closed runs' histories."""
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=client.namespace)
    )
    return described.config.workflow_execution_retention_ttl.ToTimedelta()
