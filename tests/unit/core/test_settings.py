from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.db import async_url
from core.settings import child_environment, load_settings

pytestmark = pytest.mark.unit


def test_defaults_point_at_the_embedded_stack(tmp_path: Path) -> None:
    settings = load_settings(DATA_DIR=tmp_path)
    assert settings.temporal_address == "127.0.0.1:7233"
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.redis_url == f"unix://{tmp_path}/redis.sock"
    assert settings.database_url == f"sqlite:///{tmp_path}/acc.db"
    assert settings.api_url == "http://127.0.0.1:8000"


def test_environment_variables_are_read_with_the_acc_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACC_TEMPORAL_PORT", "7999")
    monkeypatch.setenv("ACC_SHELL_ALLOWED_COMMANDS", "echo, cat")
    settings = load_settings()
    assert settings.temporal_address == "127.0.0.1:7999"
    assert settings.SHELL_ALLOWED_COMMANDS == ("echo", "cat")
    assert settings.allows_command("cat") and not settings.allows_command("rm")
    assert load_settings(SHELL_ALLOWED_COMMANDS="*").allows_command("rm")


def test_bad_values_are_errors_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACC_API_PORT", "eighty")
    with pytest.raises(ValidationError, match="API_PORT"):
        load_settings()


def test_children_inherit_every_resolved_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = {"openai": {"requests_per_minute": 5}}
    roots = (tmp_path / "a", tmp_path / "b")
    env = child_environment(
        load_settings(DATA_DIR=tmp_path, KAFKA_PORT=9999, RATE_LIMITS=limits, REVIEW_ROOTS=roots)
    )
    assert env["ACC_REVIEW_ROOTS"] == f"{roots[0]},{roots[1]}"
    assert env["ACC_KAFKA_BOOTSTRAP"] == "127.0.0.1:9999"
    assert env["ACC_DATA_DIR"] == str(tmp_path)
    assert env["ACC_REDIS_URL"] == f"unix://{tmp_path}/redis.sock"
    for name, value in env.items():
        if name.startswith("ACC_"):
            monkeypatch.setenv(name, value)
    child = load_settings()
    assert child.kafka_bootstrap == "127.0.0.1:9999"
    assert limits == child.RATE_LIMITS
    assert child.SHELL_ALLOWED_COMMANDS == load_settings().SHELL_ALLOWED_COMMANDS
    assert roots == child.REVIEW_ROOTS


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///a/b.db", "sqlite+aiosqlite:///a/b.db"),
        ("postgresql://u@h:5432/db", "postgresql+asyncpg://u@h:5432/db"),
        ("postgres://h/db", "postgresql+asyncpg://h/db"),
        ("postgresql+psycopg://h/db", "postgresql+asyncpg://h/db"),
    ],
)
def test_database_urls_map_to_async_drivers(url: str, expected: str) -> None:
    assert async_url(url) == expected


def test_unsupported_database_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="use sqlite:// or postgresql://"):
        async_url("mysql://h/db")
