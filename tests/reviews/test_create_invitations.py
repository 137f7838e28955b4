"""The batch form of invitation creation: same checks as one-by-one creation, all or nothing,
one audit entry per batch."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.audit.service import verify_chain
from app.db_types import utcnow
from app.definitions.service import retire_version
from app.extensions import db
from app.reviews.models import Channel, Invitation
from app.reviews.service import InvalidRequest, InvitationRequest, create_invitation, create_invitations


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def good(account: str, **overrides) -> InvitationRequest:
    values = dict(client_account=account, questionnaire_key="all-types", version_number=1,
                  context={"product_name": "稳健理财1号"})
    values.update(overrides)
    return InvitationRequest(**values)


# The same bad inputs one-by-one creation refuses, each with the field it names.
BAD = [
    pytest.param(dict(client_account="NOPE0001"), "client_account", id="unknown-client"),
    pytest.param(dict(questionnaire_key="unknown-key"), "questionnaire", id="unknown-questionnaire"),
    pytest.param(dict(version_number=7), "questionnaire", id="unknown-version"),
    pytest.param(dict(review_type="horoscope"), "review_type", id="unknown-review-type"),
    pytest.param(dict(channel="fax"), "channel", id="unknown-channel"),
    pytest.param(dict(context={}), "context", id="missing-placeholder"),
    pytest.param(dict(context={"product_name": ["a", "list"]}), "context", id="context-not-a-string"),
    pytest.param(dict(expires_at="past"), "expires_at", id="expired"),
    pytest.param(dict(opens_at="after-expiry", expires_at="future"), "opens_at", id="opens-after-expiry"),
]


def _resolve(overrides: dict) -> dict:
    now = utcnow()
    times = {"past": now - timedelta(days=1), "future": now + timedelta(days=5),
             "after-expiry": now + timedelta(days=6)}
    return {k: times.get(v, v) if isinstance(v, str) and k in ("expires_at", "opens_at") else v
            for k, v in overrides.items()}


@pytest.fixture
def people(app, make_client, publish):
    publish()
    return [make_client() for _ in range(3)]


def test_a_batch_creates_one_invitation_per_request_in_order(people):
    requests = [good(p.account, channel=channel) for p, channel in zip(people, ("sms", "email", "link"))]
    invitations = create_invitations(requests, "test")
    db.session.commit()
    assert [i.client_id for i in invitations] == [p.id for p in people]
    assert [i.channel for i in invitations] == [Channel.SMS, Channel.EMAIL, Channel.LINK]
    assert all(i.id and i.public_id and i.short_code and i.version.number == 1 for i in invitations)
    assert count(Invitation) == 3


def test_a_batch_writes_one_audit_entry_listing_its_invitations(people):
    before = count(AuditEntry)
    invitations = create_invitations([good(p.account) for p in people], "campaign:1")
    db.session.commit()
    entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq)).all()[before:]
    assert [(e.action, e.actor) for e in entries] == [("invitation.create_batch", "campaign:1")]
    assert entries[0].details["ids"] == [i.id for i in invitations] and entries[0].details["count"] == 3
    assert verify_chain()[1] is None


def test_an_empty_batch_writes_nothing(people):
    before = count(AuditEntry)
    assert create_invitations([], "test") == []
    assert count(AuditEntry) == before and count(Invitation) == 0


@pytest.mark.parametrize("overrides, field", BAD)
def test_single_creation_refuses_the_bad_input(people, overrides, field):
    with pytest.raises(InvalidRequest) as caught:
        create_invitation(good(people[0].account, **_resolve(overrides)), "test")
    assert caught.value.field == field
    assert count(Invitation) == 0


@pytest.mark.parametrize("overrides, field", BAD)
def test_a_batch_with_one_bad_request_writes_nothing_and_names_it(people, overrides, field):
    before = count(AuditEntry)
    requests = [good(people[0].account), good(people[1].account, **_resolve(overrides)), good(people[2].account)]
    with pytest.raises(InvalidRequest) as caught:
        create_invitations(requests, "test")
    single = None
    try:
        create_invitation(requests[1], "test")
    except InvalidRequest as exc:
        single = exc
    assert (caught.value.field, caught.value.message) == (single.field, single.message) and field == single.field
    assert caught.value.extra["index"] == 1 and str(caught.value).startswith("request 1: ")
    assert count(Invitation) == 0 and count(AuditEntry) == before


def test_a_retired_version_is_refused_in_a_batch_as_alone(people):
    from app.definitions.service import get_version

    retire_version(get_version("all-types", 1), "test")
    with pytest.raises(InvalidRequest) as caught:
        create_invitations([good(p.account) for p in people], "test")
    assert caught.value.field == "questionnaire" and "retired" in caught.value.message
    assert caught.value.extra["index"] == 0 and count(Invitation) == 0


def test_missing_placeholders_are_listed_in_a_batch_as_alone(people):
    with pytest.raises(InvalidRequest) as caught:
        create_invitations([good(people[0].account), good(people[1].account, context={})], "test")
    assert caught.value.extra["missing"] == ["product_name"]


def test_single_creation_still_writes_its_own_audit_entry(people):
    invitation = create_invitation(good(people[0].account), "test")
    entry = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
    assert (entry.action, entry.object_id) == ("invitation.create", str(invitation.id))
    assert entry.details["client"] == people[0].account
