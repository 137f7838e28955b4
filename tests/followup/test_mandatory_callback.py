"""Closing an exception of a mandatory session tells the business system (issue 6, 8.4).

The whole path with real parts: a session opened through the API, answered on the gate with a
flagged answer, the exception assigned and closed through the console, the outbox event
delivered by the job runner to a loopback HTTP receiver and verified with `standardwebhooks`.
"""
from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from app.api.models import ApiKey
from app.auth.models import Role
from app.extensions import db
from app.followup import service
from app.jobs import service as jobs
from app.jobs.models import Job
from app.mandatory.models import MandatorySession
from app.reviews.models import ExceptionStatus, ReviewException
from app.webhooks.models import WebhookEvent
from tests.console.conftest import post
from tests.webhooks.receiver import Receiver

EVENT = "mandatory_session.exception_closed"
NAME, PHONE, EMAIL = "欧阳娜娜", "13955556666", "nana@example.com"
# all_types: satisfaction 1 is flagged ("Client dissatisfied"); everything else is a normal answer.
FLAGGED = {"consent": "y", "own_operation": "yes", "age": "12", "satisfaction": "1", "_action": "submit"}
CLOSE = {"outcome": "client_misunderstanding", "note": "客户误解，已解释"}


@pytest.fixture
def secret(api_key) -> str:
    """The webhook secret of the shared `api_key` fixture (callback prefix http://127.0.0.1:)."""
    return db.session.scalars(sa.select(ApiKey).where(ApiKey.name == "test-system")).one().webhook_secret


@pytest.fixture
def receiver(secret):
    rec = Receiver(secret)
    yield rec
    rec.close()


@pytest.fixture
def flagged_session(client, api_key, receiver, make_client, publish):
    """Open a session through the API and answer it on the gate with a flagged answer; returns the session."""
    def make(callback: bool = True) -> MandatorySession:
        person, version = make_client(name=NAME, phone=PHONE, email=EMAIL), publish()
        body = {"client_account": person.account, "questionnaire": {"key": version.questionnaire.key},
                "context": {"product_name": "稳健理财1号"}, "business_ref": "open-777"}
        if callback:
            body["callback_url"] = receiver.url
        created = client.post("/api/v1/mandatory-sessions", json=body, headers=api_key)
        assert created.status_code == 201, created.json
        assert client.post(urlsplit(created.json["url"]).path, data=FLAGGED).status_code == 303
        session = db.session.scalars(sa.select(MandatorySession)
                                     .where(MandatorySession.public_id == created.json["id"])).one()
        assert session.status.value == "exception"
        return session

    return make


def exception_of(session: MandatorySession) -> ReviewException:
    return exception_of_response(session.response_id)


def exception_of_response(response_id: int) -> ReviewException:
    return db.session.scalars(sa.select(ReviewException).where(ReviewException.response_id == response_id)).one()


def assign_and_close(client, sign_in, exception: ReviewException, form=CLOSE):
    """A review manager assigns the exception to himself and closes it through the console."""
    manager = sign_in(Role.REVIEW_MANAGER)
    assert post(client, f"/console/exceptions/{exception.id}/assign", {"assignee_id": manager.id}).status_code == 302
    return post(client, f"/console/exceptions/{exception.id}/close", form)


def closed_events() -> list[WebhookEvent]:
    db.session.expire_all()
    return db.session.scalars(sa.select(WebhookEvent).where(WebhookEvent.event_type == EVENT)).all()


def test_closing_writes_an_outbox_event_for_the_sessions_callback_url(client, sign_in, flagged_session, receiver):
    session = flagged_session()
    exception = exception_of(session)
    assert assign_and_close(client, sign_in, exception).status_code == 302
    [event] = closed_events()
    assert event.callback_url == receiver.url and event.api_key_id == session.api_key_id
    data = json.loads(event.body)["data"]
    closed = service.followup_of(exception)
    assert data == {
        "session_id": session.public_id, "business_ref": "open-777", "client_account": exception.client.account,
        "receipt_no": exception.response.receipt_no, "exception_id": exception.id,
        "question_id": "satisfaction", "severity": exception.severity.value,
        "label": {"zh-CN": exception.label_zh, "en": "Client dissatisfied"},
        "outcome": "client_misunderstanding", "closed_at": closed.closed_at.isoformat(), "open_exceptions": 0,
    }


def test_the_closing_event_is_delivered_and_verifies_with_standardwebhooks(client, sign_in, flagged_session,
                                                                           receiver, secret):
    session = flagged_session()
    jobs.run_due_jobs()  # the gate's own mandatory_session.exception callback goes first
    assert [r.payload["type"] for r in receiver.wait_for(1)] == ["mandatory_session.exception"]
    assign_and_close(client, sign_in, exception_of(session))
    assert jobs.run_due_jobs() == 1
    got = receiver.wait_for(2)[1]
    payload = Webhook(secret).verify(got.body, got.headers)  # raises when the signature is wrong
    assert got.verified and payload["type"] == EVENT
    data = payload["data"]
    assert data["session_id"] == session.public_id and data["outcome"] == "client_misunderstanding"
    assert got.webhook_id == closed_events()[0].message_id


def test_the_closing_event_carries_no_personal_data(client, sign_in, flagged_session):
    assign_and_close(client, sign_in, exception_of(flagged_session()))
    body = closed_events()[0].body
    for personal in (NAME, PHONE, EMAIL, "上海市浦东新区", "123X", "1958"):
        assert personal not in body


@pytest.mark.parametrize("origin", ["ordinary invitation", "session without callback_url"])
def test_closing_emits_nothing_outside_a_mandatory_session_with_a_callback(client, sign_in, flagged_session,
                                                                          make_client, publish, make_invitation,
                                                                          origin):
    if origin == "ordinary invitation":
        from app.reviews.service import submit_response

        invitation = make_invitation(client=make_client(), version=publish())
        response, _created = submit_response(invitation, {k: v for k, v in FLAGGED.items() if k != "_action"}, "zh-CN")
        db.session.commit()
        exception = exception_of_response(response.id)
    else:
        exception = exception_of(flagged_session(callback=False))
    before = db.session.scalar(sa.select(sa.func.count()).select_from(WebhookEvent))
    assert assign_and_close(client, sign_in, exception).status_code == 302
    assert db.session.get(ReviewException, exception.id).status is ExceptionStatus.CLOSED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)) == before
    assert closed_events() == []


@pytest.mark.parametrize("form, field", [({"outcome": "whatever", "note": "x"}, "outcome"),
                                         ({"outcome": "no_violation", "note": "  "}, "note")])
def test_a_refused_close_changes_nothing_and_emits_nothing(client, sign_in, flagged_session, form, field):
    exception = exception_of(flagged_session())
    jobs_before = db.session.scalar(sa.select(sa.func.count()).select_from(Job))
    response = assign_and_close(client, sign_in, exception, form)
    assert response.status_code == 422 and f'data-field="{field}"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ReviewException, exception.id).status is ExceptionStatus.ASSIGNED
    assert closed_events() == []
    # The assignment enqueued nothing; the refused close added no delivery job either.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == jobs_before


def test_the_close_and_its_event_commit_together(flagged_session, make_staff):
    exception = exception_of(flagged_session())
    manager, _ = make_staff(Role.REVIEW_MANAGER, staff_code="S900")
    service.assign(exception, manager, "staff:boss")
    db.session.commit()
    service.close(exception, "no_violation", "核实无违规", "staff:boss")
    assert len(closed_events()) == 1  # written in the closing transaction (flushed, not committed)
    db.session.rollback()  # the request failed after the close: neither the close nor the event survives
    assert db.session.get(ReviewException, exception.id).status is ExceptionStatus.ASSIGNED
    assert closed_events() == []
    # Only the gate's own mandatory_session.exception delivery job is left.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.kind == "webhooks.deliver")) == 1


def test_reclosing_after_an_upheld_objection_sends_the_new_outcome(client, sign_in, flagged_session):
    exception = exception_of(flagged_session())
    assign_and_close(client, sign_in, exception)
    objection = service.record_objection(exception, "department", "合规部", "客户补充说明", "staff:boss")
    service.answer_objection(objection, "异议成立，重新核实", True, "staff:boss")
    db.session.commit()
    assert post(client, f"/console/exceptions/{exception.id}/close",
                {"outcome": "violation_confirmed", "note": "复核属实"}).status_code == 302
    events = sorted(closed_events(), key=lambda e: e.id)
    assert [json.loads(e.body)["data"]["outcome"] for e in events] == ["client_misunderstanding", "violation_confirmed"]
    assert events[0].message_id != events[1].message_id
