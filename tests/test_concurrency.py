"""Two tabs, or a replayed request, submitting at the same moment store exactly one response."""
from __future__ import annotations

import threading

import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.audit.service import verify_chain
from app.extensions import db
from app.reviews.models import Response
from app.reviews.service import submit_response

ANSWERS = {"consent": True, "own_operation": "yes", "age": 5, "satisfaction": 3}


def test_parallel_submits_store_one_response(app, make_invitation):
    invitation = make_invitation()
    invitation_id = invitation.id
    barrier = threading.Barrier(6)
    created, errors = [], []

    def tab(n):
        with app.app_context():
            from app.reviews.models import Invitation

            inv = db.session.get(Invitation, invitation_id)
            barrier.wait()
            try:
                _response, was_created = submit_response(inv, {**ANSWERS, "age": n}, "zh-CN")
                db.session.commit()
                created.append(was_created)
            except Exception as exc:  # noqa: BLE001 - the test reports whatever happened
                db.session.rollback()
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=tab, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert created.count(True) == 1 and created.count(False) == 5
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1


def test_parallel_audit_writers_keep_one_unbroken_chain(app):
    from app.audit.service import record

    barrier = threading.Barrier(8)

    def writer(n):
        with app.app_context():
            barrier.wait()
            for i in range(5):
                record("test", "parallel.write", "thing", f"{n}-{i}")
                db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 40
    assert verify_chain() == (40, None)
