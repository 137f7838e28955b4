"""Email against a real SMTP server on loopback (aiosmtpd): arrival, parsing, a working link; refusal and fallback."""
from urllib.parse import urlsplit

import sqlalchemy as sa

from app.campaigns.models import AttemptStatus, SendAttempt, TargetState, CampaignTarget
from app.extensions import db
from tests.campaigns.conftest import at

NOW = at("2027-03-01 10:00")


def email_campaign(app, smtp_server, make_campaign, **kw):
    mailbox, port = smtp_server
    app.config.update(EMAIL_HOST="127.0.0.1", EMAIL_PORT=port, EMAIL_SENDER="review@huifang.example",
                      EMAIL_SENDER_NAME="汇方证券回访中心")
    return mailbox, make_campaign(channel_plan=kw.pop("plan", ["email"]), email_subject="{firm_name}年度回访",
                                  email_text="尊敬的{client_name}：请于{deadline}前作答：{link}", **kw)


def test_email_arrives_as_multipart_text_and_html_from_the_firms_sender(app, smtp_server, make_client, make_campaign,
                                                                        add_targets, start, run):
    mailbox, campaign = email_campaign(app, smtp_server, make_campaign)
    add_targets(campaign, [make_client(email="li@example.com")], now=NOW)
    start(campaign, now=NOW)
    run(campaign, now=NOW)
    (msg,) = mailbox.messages
    assert msg["From"].addresses[0].addr_spec == "review@huifang.example"
    assert msg["To"] == "li@example.com" and msg["Subject"] == "汇方证券年度回访"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert "张三丰" in msg.get_body(("plain",)).get_content()


def test_the_emailed_link_opens_the_invitation(app, client, smtp_server, make_client, make_campaign, add_targets,
                                               start, run):
    mailbox, campaign = email_campaign(app, smtp_server, make_campaign)
    add_targets(campaign, [make_client()], now=NOW)
    start(campaign, now=NOW)
    run(campaign, now=NOW)
    text = mailbox.messages[0].get_body(("plain",)).get_content()
    link = next(w for w in text.split() if "/q/" in w).split("：")[-1]
    response = client.get(urlsplit(link).path)
    assert response.status_code == 303 and response.headers["Location"].endswith("/identity")
    assert client.get(response.headers["Location"]).status_code == 200


def test_refused_recipient_is_recorded_and_the_next_channel_takes_over(app, smtp_server, make_client, make_campaign,
                                                                       add_targets, start, run, sms_file):
    mailbox, campaign = email_campaign(app, smtp_server, make_campaign, plan=["email", "sms"])
    mailbox.refuse["gone@example.com"] = "550 5.1.1 mailbox unavailable"
    add_targets(campaign, [make_client(email="gone@example.com")], now=NOW)
    start(campaign, now=NOW)
    run(campaign, now=NOW)
    attempts = db.session.scalars(sa.select(SendAttempt).order_by(SendAttempt.id)).all()
    assert [(a.channel, a.status, a.code) for a in attempts] == [
        ("email", AttemptStatus.INVALID, "550"), ("sms", AttemptStatus.SENT, "written")]
    assert mailbox.messages == []
    target = db.session.scalars(sa.select(CampaignTarget)).one()
    assert target.state is TargetState.SENT and target.reached_channel == "sms"


def test_smtp_server_down_is_retried_with_backoff_then_falls_back(app, make_client, make_campaign, add_targets, start,
                                                                  run, sms_file):
    from datetime import timedelta

    app.config.update(EMAIL_HOST="127.0.0.1", EMAIL_PORT=9, CAMPAIGN_TEMPORARY_RETRIES=2)
    campaign = make_campaign(channel_plan=["email", "sms"])
    add_targets(campaign, [make_client()], now=NOW)
    start(campaign, now=NOW)
    run(campaign, now=NOW)
    target = db.session.scalars(sa.select(CampaignTarget)).one()
    assert target.state is TargetState.QUEUED and target.next_action_at == NOW + timedelta(seconds=60)
    run(campaign, now=NOW + timedelta(seconds=61))
    statuses = db.session.scalars(sa.select(SendAttempt.status).order_by(SendAttempt.id)).all()
    assert statuses == [AttemptStatus.TEMPORARY, AttemptStatus.TEMPORARY, AttemptStatus.SENT]
