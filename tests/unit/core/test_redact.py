"""Secrets are masked by value (secret settings, secret-named variables) and by shape."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.redact import MASK, Redactor, redact_logs
from core.settings import load_settings

SHAPED = [
    "sk-ant-api03-" + "a1B2" * 10,
    "sk-proj-" + "Z9" * 12,
    "acc_0123abcd_" + "s3cr3t" * 4,
    "ghp_" + "A" * 36,
    "github_pat_" + "1" * 50,
    "xoxb-1234567890-abcdefghij",
    "AKIAIOSFODNN7EXAMPLE",
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbmEifQ.c2lnbmF0dXJlLXBhcnQ",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAKC\n-----END RSA PRIVATE KEY-----",
]


@pytest.mark.parametrize("secret", SHAPED)
def test_a_known_shape_is_masked_wherever_it_appears(secret: str) -> None:
    masked = Redactor().text(f"token={secret}; done")
    assert secret not in masked and MASK in masked and masked.endswith("; done")


def test_the_password_of_a_url_is_masked_and_the_rest_kept() -> None:
    text = "cannot reach postgresql://acc:pa55word@db:5432/acc"
    assert Redactor().text(text) == f"cannot reach postgresql://acc:{MASK}@db:5432/acc"


def test_secret_settings_and_secret_named_variables_are_masked_by_value() -> None:
    settings = load_settings(
        ANTHROPIC_API_KEY="plain-looking-value-1", PAYLOAD_KEYS="k1:QUJDREVGR0g="
    )
    environ = {
        "MY_SERVICE_TOKEN": "tok-abcdef-987",
        "DEPLOY_PASSWORD": "hunter2hunter2",
        "HOME": "/root",
    }
    redactor = Redactor.of(settings, environ)
    text = "a plain-looking-value-1 b tok-abcdef-987 c hunter2hunter2 d QUJDREVGR0g= e /root"
    assert redactor.text(text) == f"a {MASK} b {MASK} c {MASK} d {MASK} e /root"


def test_short_values_are_not_taken_for_secrets() -> None:
    redactor = Redactor.of(load_settings(), {"API_KEY": "abc"})
    assert redactor.text("abc abc") == "abc abc"


def test_without_shapes_only_values_are_masked() -> None:
    redactor = Redactor.of(load_settings(REDACT=False, OPENAI_API_KEY="value-of-the-key"), {})
    text = f"{SHAPED[0]} value-of-the-key"
    assert redactor.text(text) == f"{SHAPED[0]} {MASK}"


def test_nested_data_is_walked() -> None:
    data = {"a": [SHAPED[3], {"b": (SHAPED[6], 3)}], "n": None}
    assert Redactor().data(data) == {"a": [MASK, {"b": (MASK, 3)}], "n": None}


@given(st.text(max_size=200))
def test_text_without_secrets_is_left_alone(text: str) -> None:
    redactor = Redactor(["value-of-the-key"], shapes=False)
    assert redactor.text(text) == text or "value-of-the-key" in text


def test_log_records_and_tracebacks_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    redact_logs(Redactor(["a-configured-secret"]))
    log = logging.getLogger("acc.test.redact")
    with caplog.at_level(logging.INFO, logger="acc.test.redact"):
        log.info("connecting with %s and %s", "a-configured-secret", SHAPED[0])
        try:
            raise RuntimeError(f"refused {SHAPED[4]}")
        except RuntimeError:
            log.exception("failed")
    printed = caplog.text
    assert "a-configured-secret" not in printed and SHAPED[0] not in printed
    assert SHAPED[4] not in printed and "RuntimeError: refused [redacted]" in printed


def test_arguments_stay_arguments_for_formatters_that_read_them() -> None:
    redact_logs(Redactor(["a-configured-secret"]))
    record = logging.getLogger("uvicorn.access").makeRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/v1/runs?key=a-configured-secret", "1.1", 200),
        None,
    )
    assert record.args == ("127.0.0.1:5", "GET", f"/v1/runs?key={MASK}", "1.1", 200)
    assert record.getMessage().endswith(f'key={MASK} HTTP/1.1" 200')
