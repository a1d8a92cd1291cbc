"""Alert channels: targets each kind accepts, Slack's shape, the email a message makes,
and an email channel without an SMTP server saying so instead of failing."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from analytics.channels import (
    Channel,
    Message,
    Notifier,
    email_of,
    recipients,
    shown,
    slack_payload,
)
from core.settings import load_settings

MESSAGE = Message(
    event="firing",
    rule_name="failures",
    text="runs_failed over the last 5 min is 5 (> 2)",
    fields={"metric": "runs_failed", "value": "5"},
    body={"event": "firing"},
)


def test_targets_fit_their_channel() -> None:
    assert recipients("mailto:a@example.com,b@example.org") == ["a@example.com", "b@example.org"]
    assert recipients("mailto:a@example.com,%20b@example.org") == ["a@example.com", "b@example.org"]
    for bad in ("https://example.com", "mailto:", "mailto:not-an-address"):
        with pytest.raises(ValueError):
            recipients(bad)
    with pytest.raises(ValidationError, match="mailto"):
        Channel(channel="email", url="https://example.com/x")
    with pytest.raises(ValidationError, match="http"):
        Channel(channel="slack", url="mailto:a@example.com")
    assert shown("webhook", "https://hooks.example.com/T/B/secret") == "https://hooks.example.com/…"
    assert shown("email", "mailto:a@example.com") == "mailto:a@example.com"


def test_slack_payload_has_text_and_blocks() -> None:
    payload = slack_payload(MESSAGE)
    assert payload["text"].startswith(":rotating_light: [firing] failures: runs_failed")
    header, section, fields = payload["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "[firing] failures"}}
    assert section["text"]["type"] == "mrkdwn" and "is 5" in section["text"]["text"]
    assert {"type": "mrkdwn", "text": "*metric*\nruns_failed"} in fields["fields"]


def test_email_message() -> None:
    mail = email_of(MESSAGE, "acc@example.com", ["a@example.com", "b@example.com"])
    assert mail["Subject"] == "[acc firing] failures"
    assert mail["To"] == "a@example.com, b@example.com"
    assert "value: 5" in mail.get_content()
    two_lines = Message("firing", "fail\r\nBcc: x@example.com", "t", {}, {})
    assert email_of(two_lines, "acc@example.com", ["a@example.com"])["Subject"] == (
        "[acc firing] fail Bcc: x@example.com"
    )


async def test_email_without_an_smtp_server_names_the_setting() -> None:
    async with httpx.AsyncClient() as http:
        notifier = Notifier(http, load_settings(SMTP_HOST=None))
        outcome = await notifier.send(Channel(channel="email", url="mailto:a@example.com"), MESSAGE)
    assert outcome == "firing: email not sent (set ACC_SMTP_HOST)"


async def test_a_webhook_to_an_internal_address_is_refused_unless_allowed() -> None:
    received: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    transport = httpx.MockTransport(answer)  # would answer: the check comes first
    async with httpx.AsyncClient(transport=transport) as http:
        for url in ("http://127.0.0.1:9/hook", "http://localhost/hook", "http://[::1]/x",
                    "http://169.254.169.254/latest/meta-data", "http://10.0.0.7/hook"):  # fmt: skip
            outcome = await Notifier(http, load_settings()).send(
                Channel(channel="webhook", url=url), MESSAGE
            )
            assert outcome.startswith("firing: refused (") and "ACC_ALERT_INTERNAL_HOSTS" in outcome
        assert received == []
        allowed = load_settings(ALERT_INTERNAL_HOSTS="localhost, 10.0.0.0/8")
        for url in ("http://localhost/hook", "http://10.0.0.7/hook"):
            outcome = await Notifier(http, allowed).send(Channel(channel="slack", url=url), MESSAGE)
            assert outcome == "firing: HTTP 204"
        assert [str(r.url) for r in received] == ["http://localhost/hook", "http://10.0.0.7/hook"]
        public = await Notifier(http, load_settings()).send(
            Channel(channel="webhook", url="http://93.184.215.14/hook"), MESSAGE
        )
        assert public == "firing: HTTP 204"
