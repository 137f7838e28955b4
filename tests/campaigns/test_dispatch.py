"""The send loop: quiet hours, reminders, fallbacks, invalid contacts, opt-outs, deadlines, crash recovery."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.campaigns import dispatch, service
from app.campaigns.models import (
    AttemptStatus, CampaignStatus, CampaignTarget, FinalState, FollowUp, SendAttempt, TargetState,
)
from app.extensions import db
from app.reviews.models import CompletionStatus, ReviewRegistration
from tests.campaigns.conftest import at, sms_lines

NOW = at("2027-03-01 10:00")


def target():
    return db.session.scalars(sa.select(CampaignTarget)).one()


def attempts():
    return db.session.scalars(sa.select(SendAttempt).order_by(SendAttempt.id)).all()


@pytest.fixture
def running(app, make_client, make_campaign, add_targets, start, sms_file):
    """A started SMS campaign with one target; overrides for the client and the campaign."""

    def make(client=None, **campaign_kw):
        campaign = make_campaign(**campaign_kw)
        add_targets(campaign, [client or make_client()], now=NOW)
        start(campaign, now=NOW)
        return campaign

    return make


@pytest.mark.parametrize("local", ["2027-03-01 21:00", "2027-03-01 23:59", "2027-03-02 07:30"])
def test_no_sms_in_quiet_hours_it_waits_for_the_morning(running, run, sms_file, local):
    campaign = running(channel_plan=["sms"])
    run(campaign, now=at(local))
    assert sms_lines(sms_file) == []
    assert target().next_action_at == at("2027-03-02 08:00")


def test_email_is_not_held_by_quiet_hours(running, run, app, smtp_server):
    mailbox, port = smtp_server
    app.config.update(EMAIL_PORT=port)
    campaign = running(channel_plan=["email"])
    run(campaign, now=at("2027-03-01 23:00"))
    assert len(mailbox.messages) == 1


def test_reminders_go_out_on_day_3_and_day_7_without_an_answer(running, run, sms_file):
    campaign = running(channel_plan=["sms"], reminder_days=[3, 7])
    run(campaign, now=NOW)
    run(campaign, now=NOW + timedelta(days=2, hours=23))
    assert len(sms_lines(sms_file)) == 1
    run(campaign, now=NOW + timedelta(days=3))
    run(campaign, now=NOW + timedelta(days=7))
    lines = sms_lines(sms_file)
    assert len(lines) == 3 and lines[1]["text"].startswith("【汇方证券】提醒")
    assert [a.kind for a in attempts()] == ["invitation", "reminder", "reminder"]


def test_an_answer_stops_the_reminders(running, run, sms_file, client):
    from app.reviews.models import Invitation
    from tests.test_respond_flow import GOOD_ANSWERS, pass_identity, submit

    campaign = running(channel_plan=["sms"])
    run(campaign, now=NOW)
    invitation = db.session.get(Invitation, target().invitation_id)
    pass_identity(client, invitation)
    submit(client, invitation, GOOD_ANSWERS)
    db.session.expire_all()
    assert target().state is TargetState.ANSWERED and target().final_state is FinalState.REVIEWED
    run(campaign, now=NOW + timedelta(days=3))
    assert len(sms_lines(sms_file)) == 1


@pytest.mark.parametrize("phone", ["12345", "0211234567", None])
def test_invalid_number_is_flagged_not_sent_and_email_takes_over(running, run, sms_file, make_client, smtp_server,
                                                                  app, phone):
    mailbox, port = smtp_server
    app.config.update(EMAIL_PORT=port)
    running(client=make_client(phone=phone), channel_plan=["sms", "email"])
    run(service.list_campaigns()[0], now=NOW)
    assert sms_lines(sms_file) == []
    assert [(a.channel, a.status) for a in attempts()] == [("sms", AttemptStatus.INVALID), ("email", AttemptStatus.SENT)]
    assert len(mailbox.messages) == 1


def test_every_channel_failing_ends_unreached_with_appendix_f_wording_on_the_follow_up_list(
        running, run, make_client):
    campaign = running(client=make_client(phone="123", email=None), channel_plan=["sms", "email"])
    run(campaign, now=NOW)
    t = target()
    assert t.state is TargetState.UNREACHED and t.final_state is FinalState.WRONG_NUMBER
    assert service.target_wording(t) == ("已完成：错号", "Completed: wrong number or address")
    (follow,) = db.session.scalars(sa.select(FollowUp)).all()
    assert follow.final_state is FinalState.WRONG_NUMBER
    registration = db.session.scalars(sa.select(ReviewRegistration)).one()
    assert registration.completion_status is CompletionStatus.WRONG_NUMBER
    assert db.session.get(type(campaign), campaign.id).status is CampaignStatus.FINISHED


def test_no_answer_by_the_deadline_is_unanswered_and_exported_for_phone_review(running, run):
    campaign = running(channel_plan=["sms"], deadline=NOW + timedelta(days=10), now=NOW)
    run(campaign, now=NOW)
    run(campaign, now=NOW + timedelta(days=10, seconds=1))
    assert target().final_state is FinalState.UNANSWERED
    csv_text = "".join(service.followups_csv(db.session.get(type(campaign), campaign.id)))
    header, row = csv_text.lstrip("\ufeff").splitlines()[:2]
    assert header.startswith("campaign_id,campaign,account") and "已完成：逾期未答" in row and "13812341234" in row


def test_provider_refusal_counts_attempts_then_falls_back(running, run, app, http_receiver, sms_file, smtp_server):
    mailbox, port = smtp_server
    server = http_receiver(lambda h, b: (403, {"error": {"code": "blocked"}}))
    app.config.update(SMS_PROVIDER="http", SMS_HTTP_URL=server.url, EMAIL_PORT=port)
    campaign = running(channel_plan=["sms", "email"], attempts_per_channel={"sms": 2})
    run(campaign, now=NOW)
    assert target().state is TargetState.QUEUED
    run(campaign, now=NOW + timedelta(minutes=2))
    assert [(a.channel, a.status) for a in attempts()] == [
        ("sms", AttemptStatus.REFUSED), ("sms", AttemptStatus.REFUSED), ("email", AttemptStatus.SENT)]
    assert len(server.requests) == 2


def test_provider_5xx_is_retried_with_backoff_then_falls_back(running, run, app, http_receiver, smtp_server):
    mailbox, port = smtp_server
    server = http_receiver(lambda h, b: (503, {}))
    app.config.update(SMS_PROVIDER="http", SMS_HTTP_URL=server.url, EMAIL_PORT=port, CAMPAIGN_TEMPORARY_RETRIES=3)
    campaign = running(channel_plan=["sms", "email"], attempts_per_channel={"sms": 1})
    run(campaign, now=NOW)
    assert target().next_action_at == NOW + timedelta(seconds=60)
    run(campaign, now=NOW + timedelta(seconds=60))
    assert target().next_action_at == NOW + timedelta(seconds=180)
    run(campaign, now=NOW + timedelta(seconds=180))
    assert [a.status for a in attempts()] == [AttemptStatus.TEMPORARY] * 3 + [AttemptStatus.SENT]
    assert len(mailbox.messages) == 1


def test_do_not_contact_is_respected(running, run, sms_file, make_client):
    client = make_client()
    service.block_contact(client, None, "client asked by phone", "test")
    db.session.commit()
    running(client=client, channel_plan=["sms", "email"])
    run(service.list_campaigns()[0], now=NOW)
    assert sms_lines(sms_file) == [] and attempts() == []
    assert target().final_state is FinalState.DO_NOT_CONTACT


def test_channel_opt_out_skips_that_channel(running, run, sms_file, make_client, smtp_server, app):
    mailbox, port = smtp_server
    app.config.update(EMAIL_PORT=port)
    client = make_client()
    service.block_contact(client, "sms", "unsubscribed (回T)", "test")
    db.session.commit()
    running(client=client, channel_plan=["sms", "email"])
    run(service.list_campaigns()[0], now=NOW)
    assert sms_lines(sms_file) == [] and len(mailbox.messages) == 1
    assert attempts()[0].status is AttemptStatus.SKIPPED


def test_rate_limit_defers_sends_beyond_the_per_minute_budget(app, make_client, make_campaign, add_targets, start,
                                                              run, sms_file):
    campaign = make_campaign(channel_plan=["sms"], rate_limits={"sms": 2})
    add_targets(campaign, [make_client() for _ in range(5)], now=NOW)
    start(campaign, now=NOW)
    run(campaign, now=NOW)
    assert len(sms_lines(sms_file)) == 2
    run(campaign, now=NOW + timedelta(seconds=61))
    assert len(sms_lines(sms_file)) == 4


def test_paused_campaign_sends_nothing_until_resumed(running, run, sms_file):
    campaign = running(channel_plan=["sms"])
    service.pause_campaign(campaign, "test")
    db.session.commit()
    run(campaign, now=NOW)
    assert sms_lines(sms_file) == []
    service.resume_campaign(campaign, "test", now=NOW)
    db.session.commit()
    run(campaign, now=NOW)
    assert len(sms_lines(sms_file)) == 1


def test_private_fund_invitation_opens_only_after_the_cooling_off_period(app, make_client, make_campaign,
                                                                         add_targets, start, run, sms_file, publish):
    from app.reviews.models import Invitation

    version = publish("private_fund")
    campaign = make_campaign(version=version, channel_plan=["sms"], cooling_off_hours=24, context={})
    purchase = NOW - timedelta(hours=2)
    add_targets(campaign, [make_client()], now=NOW, event_at=purchase.isoformat(), context={"product_name": "私募1号"})
    start(campaign, now=NOW)
    run(campaign, now=NOW)
    assert sms_lines(sms_file) == [] and target().next_action_at == purchase + timedelta(hours=24)
    run(campaign, now=purchase + timedelta(hours=24))
    assert len(sms_lines(sms_file)) == 1
    assert db.session.get(Invitation, target().invitation_id).opens_at == purchase + timedelta(hours=24)


def test_campaign_cannot_start_after_its_window_ended(make_campaign, add_targets, make_client):
    campaign = make_campaign(window_ends_at=NOW + timedelta(days=1), now=NOW)
    add_targets(campaign, [make_client()])
    with pytest.raises(service.InvalidRequest, match="window"):
        service.start_campaign(campaign, "test", now=NOW + timedelta(days=2))
    db.session.rollback()
    assert db.session.get(type(campaign), campaign.id).status is CampaignStatus.DRAFT


def test_send_window_start_defers_the_first_send(running, run, sms_file):
    campaign = running(channel_plan=["sms"], window_starts_at=NOW + timedelta(days=1), now=NOW)
    run(campaign, now=NOW)
    assert sms_lines(sms_file) == [] and target().next_action_at == NOW + timedelta(days=1)


def test_mandatory_target_left_unreached_tells_the_business_to_keep_the_flow_paused(
        app, make_client, make_campaign, start, run, sms_file):
    from app.api.service import create_api_key
    from app.webhooks.models import WebhookEvent

    key, _ = create_api_key("crm", callback_prefixes=["http://127.0.0.1:"])
    campaign = make_campaign(channel_plan=["sms"])
    service.add_target_rows(campaign, [{"account": make_client(phone="1").account, "mandatory": True,
                                        "callback_url": "http://127.0.0.1:1/hook"}], "api:crm", "api", api_key=key, now=NOW)
    db.session.commit()
    start(campaign, now=NOW)
    run(campaign, now=NOW)
    event = db.session.scalars(sa.select(WebhookEvent)).one()
    assert event.event_type == "review.unreached" and '"keep_paused":true' in event.body


def test_a_failed_delivery_receipt_falls_back_to_the_next_channel(running, run, sms_file, smtp_server, app):
    from delivery.sms.base import Receipt

    mailbox, port = smtp_server
    app.config.update(EMAIL_PORT=port)
    campaign = running(channel_plan=["sms", "email"], attempts_per_channel={"sms": 1})
    run(campaign, now=NOW)
    key = attempts()[0].idempotency_key
    dispatch.apply_receipt("file", Receipt(None, key, False, "MK:0001", "空号"), now=NOW)
    db.session.commit()
    run(campaign, now=NOW)
    assert [(a.channel, a.status) for a in attempts()] == [("sms", AttemptStatus.FAILED), ("email", AttemptStatus.SENT)]


def test_letter_channel_hands_the_invitation_to_the_letters_batch(running, run, make_client):
    from app.letters.service import letter_for_invitation

    campaign = running(client=make_client(phone=None, email=None), channel_plan=["sms", "email", "letter"])
    run(campaign, now=NOW)
    ids = service.letter_invitation_ids(campaign.id)
    assert ids == [target().invitation_id] and letter_for_invitation(ids[0]) is not None


# ------------------------------------------------------------ never sent twice

def _crash_after_claim(campaign_id, now):
    """Phase 1 committed ('sending' recorded), then the worker dies before sending."""
    stats, prepared = dispatch._claim(campaign_id, now, 100)
    db.session.commit()
    return prepared


def test_crash_between_record_and_send_is_resolved_by_the_file_sinks_record_without_a_second_message(
        running, run, sms_file):
    campaign = running(channel_plan=["sms"])
    prepared = _crash_after_claim(campaign.id, NOW)
    from app.campaigns.channels import Senders

    senders = Senders()
    dispatch._send(prepared[0], senders)  # the message went out, then the worker died
    senders.close()
    run(campaign, now=NOW + timedelta(seconds=301))
    assert len(sms_lines(sms_file)) == 1
    assert attempts()[0].status is AttemptStatus.SENT and target().state is TargetState.SENT


def test_crash_before_an_smtp_send_is_never_repeated_blindly(running, run, smtp_server, app):
    mailbox, port = smtp_server
    app.config.update(EMAIL_PORT=port)
    campaign = running(channel_plan=["email"])
    _crash_after_claim(campaign.id, NOW)
    run(campaign, now=NOW + timedelta(seconds=301))
    assert mailbox.messages == []
    assert attempts()[0].status is AttemptStatus.UNKNOWN and target().state is TargetState.SENT


def test_the_worker_runs_a_started_campaign_through_the_job_queue(running, sms_file):
    from app.jobs.service import run_due_jobs

    running(channel_plan=["sms"])
    assert run_due_jobs(now=NOW) >= 1
    db.session.expire_all()
    assert len(sms_lines(sms_file)) == 1 and target().state is TargetState.SENT
