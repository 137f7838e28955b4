"""1,000 sessions completed concurrently on PostgreSQL with several workers: 1,000 events, none lost."""
from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from app.extensions import db
from tests.dbsetup import postgresql_only

pytestmark = [
    pytest.mark.slow,
    postgresql_only("many worker processes sharing one queue need SKIP LOCKED; SQLite serialises writers by design"),
]
SESSIONS = 1000
SUBMITTERS = 8  # within the pool (5 + 10 overflow) of the test app
WORKERS = 4
RAW = {"consent": "y", "own_operation": "yes", "age": "12", "satisfaction": "4"}


def test_thousand_concurrent_completions_deliver_a_thousand_events(app, hook_key, receiver, start_worker,
                                                                   publish):
    from app.clients.models import Client
    from app.mandatory import service
    from app.mandatory.models import MandatorySession
    from app.reviews import service as reviews
    from app.reviews.models import Invitation

    version = publish()
    db.session.add_all([Client(account=f"S{n:07d}", name="客户", id_last4="123X") for n in range(SESSIONS)])
    db.session.commit()
    for n in range(SESSIONS):
        service.open_session(hook_key[0], service.SessionRequest(
            client_account=f"S{n:07d}", questionnaire_key=version.questionnaire.key, version_number=None,
            review_type=None, business_ref=f"ref-{n}", context={"product_name": "x"},
            callback_url=receiver.url, return_url=None, expires_in=3600), f"h{n}", None, "test")
        if n % 200 == 199:
            db.session.commit()
    db.session.commit()
    invitation_ids = db.session.scalars(sa.select(MandatorySession.invitation_id)).all()
    for n in range(WORKERS):
        start_worker(name=f"scale{n}")
    errors: list[BaseException] = []

    def submit(ids):
        with app.app_context():
            try:
                for invitation_id in ids:
                    reviews.submit_response(db.session.get(Invitation, invitation_id), RAW, "zh-CN")
                    db.session.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submit, args=(invitation_ids[i::SUBMITTERS],)) for i in range(SUBMITTERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with receiver.lock:
            unique = {r.webhook_id for r in receiver.received}
        if len(unique) >= SESSIONS:
            break
        time.sleep(0.2)
    received = list(receiver.received)
    assert len({r.webhook_id for r in received}) == SESSIONS
    assert all(r.verified for r in received)
    by_session: dict[str, set[str]] = {}
    for r in received:
        by_session.setdefault(r.payload["data"]["session_id"], set()).add(r.webhook_id)
    assert len(by_session) == SESSIONS and all(len(ids) == 1 for ids in by_session.values())
