"""Alert channels and escalation end to end, on real SQL, against a local SMTP stand-in
(aiosmtpd) and a local recording webhook: Slack's `text` and `blocks`, email to every
`mailto:` address, an unacknowledged alert escalated step by step after its delays
(each step once), an acknowledged one not escalated, and resolution told to every
channel that heard of the alert."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from analytics import alerting
from analytics.channels import Notifier
from analytics.sink import EventSink
from core.settings import Settings
from tests.conftest import api_client
from tests.integration.analytics.test_aggregator import migrated
from tests.integration.analytics.test_analytics_api import run
from tests.support.recording_smtp import recording_smtp
from tests.support.recording_webhook import recording_webhook

pytestmark = pytest.mark.integration


async def test_unacknowledged_alerts_escalate_by_email_slack_and_webhook(
    make_settings: Callable[..., Settings],
) -> None:
    tenant = f"acme-{uuid.uuid4().hex[:6]}"
    start = datetime.now(UTC)
    last_minute = start.replace(second=0, microsecond=0) - timedelta(seconds=30)
    with recording_smtp() as smtp, recording_webhook() as hook:
        settings = make_settings(
            SMTP_HOST=smtp.host,
            SMTP_PORT=smtp.port,
            SMTP_SECURITY="none",
            SMTP_FROM="acc@example.com",
        )
        async with migrated(settings) as engine, httpx.AsyncClient() as http:
            notifier = Notifier(http, settings)
            events = [e for _ in range(5) for e in run(tenant, last_minute, "shell", 0, 0, False)]
            await EventSink(engine).apply(events)
            condition = {"metric": "runs_failed", "op": ">", "threshold": 2, "window_minutes": 5}
            async with api_client(settings, ("admin",), tenant) as admin:
                escalating = await admin.post(
                    "/v1/alerts/rules",
                    json={
                        "name": "failures",
                        **condition,
                        "channel": "slack",
                        "url": f"{hook.url}/slack/T000/B000/secret",
                        "escalation": [
                            {
                                "after_seconds": 1,
                                "notify": [
                                    {
                                        "channel": "email",
                                        "url": "mailto:oncall@example.com,lead@example.com",
                                    }
                                ],
                            },
                            {
                                "after_seconds": 2,
                                "notify": [{"channel": "webhook", "url": f"{hook.url}/pager"}],
                            },
                        ],
                    },
                )
                acked_rule = await admin.post(
                    "/v1/alerts/rules",
                    json={
                        "name": "failures, acknowledged",
                        **condition,
                        "channel": "email",
                        "url": "mailto:team@example.com",
                        "escalation": [
                            {"after_seconds": 1, "notify": [{"url": f"{hook.url}/never"}]}
                        ],
                    },
                )
                bad_target = await admin.post(
                    "/v1/alerts/rules",
                    json={"name": "x", "channel": "email", "url": "https://example.com/hook"},
                )
                bad_order = await admin.post(
                    "/v1/alerts/rules",
                    json={
                        "name": "x",
                        "url": f"{hook.url}/a",
                        "escalation": [
                            {"after_seconds": 60, "notify": [{"url": f"{hook.url}/b"}]},
                            {"after_seconds": 30, "notify": [{"url": f"{hook.url}/c"}]},
                        ],
                    },
                )
                rules = {r["name"]: r for r in (await admin.get("/v1/alerts/rules")).json()}

                assert await alerting.evaluate(engine, notifier, start) == 2
                fired = [path for path, _ in hook.received]
                mails_fired = len(smtp.received)
                firing = (await admin.get("/v1/alerts", params={"status": "firing"})).json()
                to_ack = next(a for a in firing if a["rule_name"] == "failures, acknowledged")
                assert (await admin.post(f"/v1/alerts/{to_ack['id']}/ack")).status_code == 200

                # The rounds the aggregator would run 1.1 s and 1.2 s after the alerts
                # opened (past the first step's delay), then 2.1 s after.
                later = [start + timedelta(seconds=s) for s in (1.1, 1.2, 2.1)]
                assert await alerting.evaluate(engine, notifier, later[0]) == 0
                assert await alerting.evaluate(engine, notifier, later[1]) == 0
                after_first = ([p for p, _ in hook.received], len(smtp.received))
                await alerting.evaluate(engine, notifier, later[2])
                after_second = [p for p, _ in hook.received]
                tested = await admin.post(f"/v1/alerts/rules/{escalating.json()['id']}/test")

                # Ten minutes on, the failures are out of the window: resolved, and told.
                await alerting.evaluate(engine, notifier, start + timedelta(minutes=10))
                history = {a["rule_name"]: a for a in (await admin.get("/v1/alerts")).json()}

    assert escalating.status_code == 201 and acked_rule.status_code == 201
    assert bad_target.status_code == 422 and "mailto" in bad_target.text
    assert bad_order.status_code == 422 and "after_seconds" in bad_order.text
    listed = rules["failures"]
    assert listed["destination"] == f"{hook.url}/…"  # no secret path
    assert [s["after_seconds"] for s in listed["escalation"]] == [1, 2]
    assert listed["escalation"][0]["notify"] == [
        {"channel": "email", "destination": "mailto:oncall@example.com,lead@example.com"}
    ]
    assert listed["escalation"][1]["notify"] == [
        {"channel": "webhook", "destination": f"{hook.url}/…"}
    ]

    # Firing: Slack for one rule, email for the other, nothing escalated yet.
    assert fired == ["/slack/T000/B000/secret"] and mails_fired == 1
    slack = hook.received[0][1]
    assert set(slack) == {"text", "blocks"} and "[firing] failures" in slack["text"]
    assert slack["blocks"][0]["type"] == "header"
    assert any("runs_failed" in f["text"] for f in slack["blocks"][2]["fields"])
    first_mail = smtp.received[0]
    assert first_mail.recipients == ["team@example.com"]
    assert first_mail.sender == "acc@example.com"
    assert first_mail.message["Subject"] == "[acc firing] failures, acknowledged"
    assert "runs_failed over the last 5 min is 5" in first_mail.message.get_content()

    # After 1 s: the first step's email, once (two rounds), to both addresses; the
    # acknowledged alert escalated to nobody.
    assert after_first == (["/slack/T000/B000/secret"], 2)
    escalated = smtp.received[1]
    assert sorted(escalated.recipients) == ["lead@example.com", "oncall@example.com"]
    assert escalated.message["Subject"] == "[acc escalated] failures"
    # After 2 s: the second step's webhook.
    assert after_second == ["/slack/T000/B000/secret", "/pager"]
    pager = hook.received[1][1]
    assert pager["event"] == "escalated" and pager["alert"]["escalation_level"] == 2
    assert "url" not in pager["rule"] and "escalation" not in pager["rule"]
    assert "/never" not in after_second

    # The test alert reaches the rule's channel and every escalation channel.
    assert tested.json() == {"outcome": "test: HTTP 200; test: email sent to 2; test: HTTP 200"}

    # Resolved: told to Slack, the escalation email and the pager; the acknowledged
    # alert's email rule only to its own address.
    resolved = [
        (p, b)
        for p, b in hook.received
        if b.get("event") == "resolved" or "[resolved]" in b.get("text", "")
    ]
    assert sorted(p for p, _ in resolved) == ["/pager", "/slack/T000/B000/secret"]
    subjects = [(m.message["Subject"], sorted(m.recipients)) for m in smtp.received]
    assert ("[acc resolved] failures", ["lead@example.com", "oncall@example.com"]) in subjects
    assert ("[acc resolved] failures, acknowledged", ["team@example.com"]) in subjects
    assert history["failures"]["status"] == "resolved"
    assert history["failures"]["escalation_level"] == 2
    assert history["failures, acknowledged"]["escalation_level"] == 0
    assert history["failures, acknowledged"]["status"] == "resolved"
