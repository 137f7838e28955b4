"""Dispatch in batches: invitations created in one core call (one audit entry), attempts inserted
in bulk, one refused request stalls only its own target, and the claim reads due targets in index order."""
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.campaigns import dispatch
from app.campaigns.models import AttemptStatus, CampaignTarget, SendAttempt, TargetState
from app.extensions import db
from app.reviews.models import Invitation
from tests.campaigns.conftest import at, sms_lines

NOW = at("2027-03-01 10:00")


def test_one_pass_creates_its_invitations_with_one_audit_entry(app, make_client, make_campaign, add_targets, start,
                                                               run, sms_file):
    campaign = make_campaign()
    add_targets(campaign, [make_client() for _ in range(5)], now=NOW)
    start(campaign, now=NOW)
    run(campaign, now=NOW)
    entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action.like("invitation.create%"))).all()
    ids = sorted(db.session.scalars(sa.select(Invitation.id)))
    assert [(e.action, e.actor, sorted(e.details["ids"])) for e in entries] == [
        ("invitation.create_batch", f"campaign:{campaign.id}", ids)]
    assert len(ids) == 5 and len(sms_lines(sms_file)) == 5


def test_a_refused_invitation_request_stalls_only_its_target(app, make_client, make_campaign, add_targets, start,
                                                              run, sms_file):
    campaign = make_campaign(context={})  # product_name comes from each target, and one lacks it
    people = [make_client() for _ in range(3)]
    add_targets(campaign, [people[0]], now=NOW, context={"product_name": "稳健理财1号"})
    add_targets(campaign, [people[1]], now=NOW)
    add_targets(campaign, [people[2]], now=NOW, context={"product_name": "稳健理财1号"})
    start(campaign, now=NOW)
    run(campaign, now=NOW)
    by_client = {t.client_id: t for t in db.session.scalars(sa.select(CampaignTarget))}
    stalled = by_client[people[1].id]
    assert stalled.invitation_id is None and stalled.next_action_at is None
    assert stalled.last_error == "context: missing values for: product_name"
    assert [by_client[p.id].state for p in (people[0], people[2])] == [TargetState.SENT, TargetState.SENT]
    assert sorted(line["to"] for line in sms_lines(sms_file)) == sorted([people[0].phone, people[2].phone])


def test_every_attempt_is_recorded_sending_before_any_send(app, make_client, make_campaign, add_targets, start,
                                                           sms_file, monkeypatch):
    campaign = make_campaign()
    add_targets(campaign, [make_client() for _ in range(4)], now=NOW)
    start(campaign, now=NOW)
    seen = []

    def recording_send_all(prepared, senders):
        # what another connection sees at the moment the providers would be called: committed rows
        with db.engine.connect() as other:
            seen.extend(other.execute(sa.select(SendAttempt.id, SendAttempt.status)).all())
        return [dispatch.SendResult(dispatch.Outcome.SENT, provider_id="p", code="ok") for _ in prepared]

    monkeypatch.setattr(dispatch, "_send_all", recording_send_all)
    dispatch.run_pass(campaign.id, now=NOW)
    assert len(seen) == 4 and {status for _, status in seen} == {AttemptStatus.SENDING}
    db.session.expire_all()
    assert {a.status for a in db.session.scalars(sa.select(SendAttempt))} == {AttemptStatus.SENT}


def test_a_pass_takes_the_earliest_due_targets_of_both_open_states(app, make_client, make_campaign, add_targets,
                                                                    start):
    campaign = make_campaign()
    add_targets(campaign, [make_client() for _ in range(4)], now=NOW)
    start(campaign, now=NOW)
    targets = db.session.scalars(sa.select(CampaignTarget).order_by(CampaignTarget.id)).all()
    times = [NOW.replace(minute=m) for m in (4, 1, 3, 2)]
    for target, when, state in zip(targets, times, (TargetState.QUEUED, TargetState.SENT, TargetState.SENT,
                                                    TargetState.QUEUED)):
        target.next_action_at, target.state = when, state
    db.session.commit()
    due = dispatch._due_targets(campaign.id, NOW.replace(minute=59), 3)
    assert [t.id for t in due] == [targets[1].id, targets[3].id, targets[2].id]
