"""Secret values kept out of logs, events, errors and step results.

Two nets, both applied to text just before it leaves a process (a log line, an event, an
error answer, a step's output or failure on its way into Temporal's history):

- by value: every secret setting (each `SecretStr` of `core.settings`) and every variable of
  the process's environment whose name says it holds a secret (`*_KEY`, `*TOKEN*`,
  `*SECRET*`, `*PASSWORD*`...), wherever it appears;
- by shape: what known credentials look like whatever their source, such as provider API
  keys, acc's own API keys, GitHub and Slack tokens, AWS access key ids, JWTs, private key
  blocks and the password of a `scheme://user:password@host` URL.

Each match becomes `[redacted]`. `ACC_REDACT=false` turns the shape net off for a worker
whose steps legitimately print token-shaped text; the value net always stays.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import SecretStr

from core.settings import Settings

MASK = "[redacted]"
MIN_SECRET = 8  # shorter values (a port, "true") would mask ordinary text
SECRET_NAME = re.compile(
    r"(^|_)(API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|CREDENTIALS?)(_|$)", re.I
)
SHAPES = [
    re.compile(p)
    for p in (
        r"\bsk-(?:ant-)?[A-Za-z0-9_\-]{16,}",  # Anthropic, OpenAI
        r"\bacc_[0-9a-f]{8,}_[A-Za-z0-9_\-]{16,}",  # acc API keys (core/auth.py)
        r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}",  # GitHub
        r"\bgithub_pat_[A-Za-z0-9_]{40,}",
        r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",  # Slack
        r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
        r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWT
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
    )
]
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:)([^\s@/]+)(@)", re.I)


class Redactor:
    def __init__(self, values: Iterable[str] = (), *, shapes: bool = True) -> None:
        kept = sorted({v for v in values if len(v) >= MIN_SECRET}, key=len, reverse=True)
        self._values = re.compile("|".join(map(re.escape, kept))) if kept else None
        self._shapes = shapes

    @classmethod
    def of(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> Redactor:
        environ = os.environ if environ is None else environ
        values = [v.get_secret_value() for v in _secret_settings(settings)]
        values += [v for name, v in environ.items() if SECRET_NAME.search(name)]
        # A list of `id:key` items (payload keys): each key is a secret of its own.
        values += [item.partition(":")[2] for v in values for item in re.split(r"[,\s]+", v)]
        return cls(values, shapes=settings.REDACT)

    def text(self, text: str) -> str:
        if self._values is not None:
            text = self._values.sub(MASK, text)
        if self._shapes:
            for shape in SHAPES:
                text = shape.sub(MASK, text)
            text = URL_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", text)
        return text

    def data(self, value: Any) -> Any:
        """`value` with every string in it redacted (dicts, lists and tuples walked)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.data(v) for v in value)
        return value


def _secret_settings(settings: Settings) -> list[SecretStr]:
    return [
        v
        for v in (getattr(settings, f) for f in type(settings).model_fields)
        if isinstance(v, SecretStr)
    ]


def redact_logs(redactor: Redactor) -> None:
    """Redact every log record of this process as it is made: its message, each of its
    arguments (kept as arguments: formatters such as uvicorn's access log read them), and
    its traceback (formatted once, here, so every handler prints the redacted text).
    Installed once per process; a later call replaces the redactor."""
    global _log_redactor
    _log_redactor = redactor
    if getattr(logging.getLogRecordFactory(), "_acc_redacting", False):
        return
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if _log_redactor is not None:
            _redact_record(record, _log_redactor)
        return record

    factory._acc_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def _redact_record(record: logging.LogRecord, redactor: Redactor) -> None:
    if isinstance(record.msg, str):
        record.msg = redactor.text(record.msg)
    if isinstance(record.args, Mapping):
        record.args = {k: _redact_argument(v, redactor) for k, v in record.args.items()}
    elif isinstance(record.args, tuple):
        record.args = tuple(_redact_argument(v, redactor) for v in record.args)
    if record.exc_info and not record.exc_text:
        record.exc_text = redactor.text(logging.Formatter().formatException(record.exc_info))


def _redact_argument(value: Any, redactor: Redactor) -> Any:
    """A log argument without secrets: strings redacted; another object replaced by its
    redacted text only when that text held one (numbers keep their %d formatting)."""
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    text = str(value)
    masked = redactor.text(text)
    return value if masked == text else masked


_log_redactor: Redactor | None = None
