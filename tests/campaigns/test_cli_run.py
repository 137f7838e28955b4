"""`flask campaigns run` through the CLI runner: messages reach the real sinks (the SMS file sink and
an aiosmtpd SMTP server on loopback), the progress shows the count, and a second run sends nothing."""
import pytest
import sqlalchemy as sa

from app.campaigns.models import AttemptStatus, SendAttempt, TargetState, CampaignTarget
from app.extensions import db
from tests.campaigns.conftest import sms_lines


@pytest.fixture
def running_campaign(app, make_client, make_campaign, add_targets, start, sms_file, smtp_server):
    """A started sms → email campaign of three clients, one without a mobile number (email takes over).
    Quiet hours are switched off (start == end): the CLI runs at the real time of day."""
    mailbox, port = smtp_server
    app.config.update(EMAIL_HOST="127.0.0.1", EMAIL_PORT=port, EMAIL_SENDER="review@huifang.example")
    campaign = make_campaign(channel_plan=["sms", "email"], quiet_start="00:00", quiet_end="00:00")
    people = [make_client(), make_client(), make_client(phone=None, email="nophone@example.com")]
    add_targets(campaign, people)
    start(campaign)
    return campaign, people, mailbox


def run_cli(app, *args):
    result = app.test_cli_runner().invoke(args=["campaigns", "run", *map(str, args)])
    db.session.expire_all()
    return result


def test_run_delivers_every_message_to_the_sms_file_and_the_smtp_server(app, running_campaign, sms_file):
    campaign, people, mailbox = running_campaign
    result = run_cli(app, campaign.id)
    assert result.exit_code == 0, result.output
    assert sorted(line["to"] for line in sms_lines(sms_file)) == [people[0].phone, people[1].phone]
    assert all("/s/" in line["text"] for line in sms_lines(sms_file))
    (message,) = mailbox.messages
    assert message["To"] == "nophone@example.com"
    states = db.session.scalars(sa.select(CampaignTarget.state)).all()
    assert states == [TargetState.SENT] * 3


def test_run_shows_the_progress_count(app, running_campaign):
    campaign, _people, _mailbox = running_campaign
    result = run_cli(app, campaign.id)
    assert result.exit_code == 0, result.output
    assert f"campaign {campaign.id}: 3/3" in result.output  # the progress line (the output is not a terminal)
    assert "sent 3, failed 0" in result.output


def test_a_second_run_sends_nothing_more(app, running_campaign, sms_file):
    campaign, _people, mailbox = running_campaign
    assert run_cli(app, campaign.id).exit_code == 0
    again = run_cli(app, campaign.id)
    assert again.exit_code == 0, again.output
    assert "sent 0," in again.output
    assert len(sms_lines(sms_file)) == 2 and len(mailbox.messages) == 1
    # two SMS and one email sent, one SMS flagged (no number): nothing more after the second run
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SendAttempt)) == 4
    assert set(db.session.scalars(sa.select(SendAttempt.status))) == {AttemptStatus.SENT, AttemptStatus.INVALID}


def test_run_quietly_prints_only_the_summary(app, running_campaign, sms_file):
    campaign, _people, _mailbox = running_campaign
    result = run_cli(app, campaign.id, "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("sent 3, failed 0")
    assert f"campaign {campaign.id}:" not in result.output and len(sms_lines(sms_file)) == 2


def test_run_refuses_a_campaign_that_is_not_running_and_sends_nothing(app, make_campaign, make_client, add_targets,
                                                                      sms_file):
    campaign = make_campaign(channel_plan=["sms"])
    add_targets(campaign, [make_client()])
    result = run_cli(app, campaign.id)
    assert result.exit_code == 1 and "is draft; start or resume it first" in result.output
    assert sms_lines(sms_file) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SendAttempt)) == 0


def test_run_of_an_unknown_campaign_fails_naming_it(app):
    result = run_cli(app, 999)
    assert result.exit_code == 1 and "no campaign 999" in result.output
