"""Where alert notifications go: a generic webhook (the alert as JSON), a Slack-compatible
incoming webhook (`text` and `blocks`), or email over SMTP (`mailto:` addresses).

A channel is a kind and a target: an http(s) URL for `webhook` and `slack`, a `mailto:`
URI (`mailto:oncall@example.com,lead@example.com`) for `email`. Every send has a 5 s
timeout and never raises: it answers what happened (`firing: HTTP 200`,
`escalated: email sent to 2`, `resolved: failed (ConnectError)`), which is kept on the
alert.

A webhook never reaches an internal address (loopback, private, link-local, reserved)
unless ACC_ALERT_INTERNAL_HOSTS names its host, address or network: whoever may write an
alert rule must not be able to make the aggregator POST to the cluster's own services.
The host is resolved just before the send and every address it resolves to is checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Literal, Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib
import httpx
from pydantic import BaseModel, Field, model_validator

from core.settings import Settings

log = logging.getLogger(__name__)

ChannelKind = Literal["webhook", "slack", "email"]
TIMEOUT_SECONDS = 5.0
ICONS = {"firing": ":rotating_light:", "escalated": ":sos:", "resolved": ":white_check_mark:"}
_ADDRESS = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


def recipients(url: str) -> list[str]:
    """The addresses of a `mailto:` URI (RFC 6068: comma-separated, percent-encoded)."""
    parts = urlsplit(url)
    if parts.scheme != "mailto":
        raise ValueError("an email channel takes a mailto: URI, e.g. mailto:oncall@example.com")
    addresses = [unquote(a).strip() for a in parts.path.split(",") if a.strip()]
    if not addresses or not all(_ADDRESS.match(a) for a in addresses):
        raise ValueError(f"not email addresses: {parts.path!r}")
    return addresses


def check_target(kind: str, url: str) -> str:
    """The target if it suits the channel kind; ValueError saying what does otherwise."""
    if kind == "email":
        recipients(url)
    else:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"a {kind} channel takes an http(s) URL")
    return url


def shown(kind: str, url: str) -> str:
    """A target as listings show it: a webhook by scheme and host only (its path often is
    its secret), an email channel by its addresses."""
    if kind == "email":
        return url
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


class Channel(BaseModel):
    """One place to notify."""

    channel: ChannelKind = "webhook"
    url: str = Field(
        min_length=1,
        max_length=2000,
        description="An http(s) URL for webhook and slack; a mailto: URI for email",
    )

    @model_validator(mode="after")
    def _target_fits(self) -> Channel:
        check_target(self.channel, self.url)
        return self


@dataclass(frozen=True)
class Message:
    """One notification, whatever the channel."""

    event: str  # firing, escalated, resolved or test
    rule_name: str
    text: str  # one line: what happened
    fields: dict[str, str]  # details worth a line each
    body: dict[str, Any]  # the generic webhook's JSON

    @property
    def subject(self) -> str:
        one_line = " ".join(self.rule_name.split())  # a header never holds a line break
        return f"[acc {self.event}] {one_line}"


def slack_payload(message: Message) -> dict[str, Any]:
    """Slack's incoming-webhook shape: `text` (the fallback notifications show) and
    `blocks` (a header, the text, the fields)."""
    icon = ICONS.get(message.event, ":bell:")
    text = f"{icon} [{message.event}] {message.rule_name}: {message.text}"
    fields = [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in message.fields.items()]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"[{message.event}] {message.rule_name}"[:150]},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} {message.text}"}},
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields[:10]})  # Slack allows 10
    return {"text": text, "blocks": blocks}


def email_of(message: Message, sender: str, to: list[str]) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    lines = [message.text, "", *(f"{k}: {v}" for k, v in message.fields.items())]
    mail.set_content("\n".join(lines) + "\n")
    return mail


class Refused(ValueError):
    """A notification target the settings do not allow."""


async def check_reachable(url: str, allowed: tuple[str, ...]) -> None:
    """Refused when the URL's host is, or resolves to, an internal address that
    ACC_ALERT_INTERNAL_HOSTS does not allow."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in allowed:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    found = await asyncio.get_running_loop().getaddrinfo(host, port)
    for address in {str(info[4][0]) for info in found}:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if ip.is_global or _allows(allowed, ip):
            continue
        raise Refused(
            f"{host} is an internal address ({ip}): allow it with ACC_ALERT_INTERNAL_HOSTS"
        )


def _allows(allowed: tuple[str, ...], ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    for entry in allowed:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:  # a host name: matched on the URL's host above
            continue
    return False


class Sender(Protocol):
    async def send(self, channel: Channel, message: Message) -> str: ...


class Notifier:
    """Sends notifications over HTTP (one shared client) and SMTP (settings' server)."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self._http = http
        self._settings = settings

    async def send(self, channel: Channel, message: Message) -> str:
        try:
            if channel.channel == "email":
                return await self._email(channel, message)
            body = slack_payload(message) if channel.channel == "slack" else message.body
            await check_reachable(channel.url, self._settings.ALERT_INTERNAL_HOSTS)
            response = await self._http.post(channel.url, json=body, timeout=TIMEOUT_SECONDS)
            return f"{message.event}: HTTP {response.status_code}"
        except Refused as exc:
            log.warning("alert notification to %s refused: %s", channel.channel, exc)
            return f"{message.event}: refused ({exc})"
        except (httpx.HTTPError, aiosmtplib.SMTPException, OSError, ValueError) as exc:
            log.warning("alert notification to %s failed: %r", channel.channel, exc)
            return f"{message.event}: failed ({type(exc).__name__})"

    async def _email(self, channel: Channel, message: Message) -> str:
        s = self._settings
        if not s.SMTP_HOST:
            return f"{message.event}: email not sent (set ACC_SMTP_HOST)"
        to = recipients(channel.url)
        await aiosmtplib.send(
            email_of(message, s.SMTP_FROM, to),
            hostname=s.SMTP_HOST,
            port=s.SMTP_PORT,
            username=s.SMTP_USERNAME,
            password=s.SMTP_PASSWORD.get_secret_value() if s.SMTP_PASSWORD else None,
            use_tls=s.SMTP_SECURITY == "tls",
            start_tls=s.SMTP_SECURITY == "starttls",
            timeout=TIMEOUT_SECONDS,
        )
        return f"{message.event}: email sent to {len(to)}"
