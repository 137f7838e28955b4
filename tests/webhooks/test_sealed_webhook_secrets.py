"""Webhook secrets kept sealed: not in the database as they are, still signing, and rotated with
SECRET_KEYS (app.sealing)."""
from __future__ import annotations

import sqlalchemy as sa

from app import sealing
from app.api.models import ApiKey
from app.api.service import rotate_webhook_secret
from app.extensions import db
from app.jobs import service as jobs
from app.jobs.models import Job, JobStatus
from app.webhooks import service
from app.webhooks.models import EventStatus
from tests.webhooks.receiver import Receiver


def emit(hook_key, url):
    event = service.emit("mandatory_session.completed", {"session_id": "ms_x", "status": "completed"},
                         api_key_id=hook_key[0].id, callback_url=url)
    db.session.commit()
    return event


def stored_row(key_id: int) -> list[str]:
    """Every value of the key's row, as a copy of the database shows it."""
    return [str(value) for value in db.session.execute(
        sa.select(ApiKey.__table__).where(ApiKey.id == key_id)).one()]


def test_the_database_holds_the_webhook_secrets_only_sealed(hook_key):
    row = hook_key[0]
    old = row.webhook_secret
    rotate_webhook_secret(row.name)
    db.session.commit()
    stored = stored_row(row.id)
    assert not any(secret in value for secret in (old, row.webhook_secret) for value in stored)
    assert (row.webhook_secret_previous, row.webhook_secret.startswith("whsec_")) == (old, True)


def test_callbacks_verify_after_the_old_key_leaves_secret_keys_once_resealed(app, hook_key):
    secret = hook_key[0].webhook_secret
    app.config["SECRET_KEYS"] = [*app.config["SECRET_KEYS"], "the-next-key"]
    result = app.test_cli_runner().invoke(args=["secrets", "reseal"])
    assert result.exit_code == 0 and "1 webhook secret(s)" in result.output
    app.config["SECRET_KEYS"] = ["the-next-key"]
    receiver = Receiver(secret)
    try:
        emit(hook_key, receiver.url)
        jobs.run_due_jobs()
        assert receiver.wait_for(1)[0].verified
    finally:
        receiver.close()


def test_a_secret_no_key_opens_is_never_sent_unsigned_and_the_event_waits(app, hook_key):
    receiver = Receiver(hook_key[0].webhook_secret)
    try:
        event = emit(hook_key, receiver.url)
        app.config["SECRET_KEYS"] = ["a-key-that-never-sealed-it"]
        jobs.run_due_jobs()
        db.session.refresh(event)
        assert receiver.received == []
        job = db.session.scalars(sa.select(Job).where(Job.kind == service.DELIVER_KIND)).one()
        assert event.status is EventStatus.PENDING and job.status is JobStatus.QUEUED
        assert "none that SECRET_KEYS opens" in job.last_error
    finally:
        receiver.close()


def test_resealing_names_the_api_keys_no_key_opens(app, hook_key):
    app.config["SECRET_KEYS"] = ["gone-key"]
    hook_key[0].webhook_secret_previous_sealed = sealing.seal("whsec_" + "A" * 32, sealing.WEBHOOK)
    db.session.commit()
    app.config["SECRET_KEYS"] = ["test-signing-key", "the-next-key"]
    result = app.test_cli_runner().invoke(args=["secrets", "reseal"])
    assert result.exit_code == 1 and "callback-system" in result.output and "rotate-secret" in result.output
    app.config["SECRET_KEYS"] = ["the-next-key"]
    db.session.refresh(hook_key[0])
    assert hook_key[0].webhook_secret is not None and hook_key[0].webhook_secret_previous is None


def test_the_key_page_tells_an_administrator_a_secret_no_longer_opens(app, hook_key, client, login):
    login()
    page = f"/console/api-keys/{hook_key[0].id}"
    assert 'id="secret-unreadable"' not in client.get(page).get_data(as_text=True)
    app.config["SECRET_KEYS"] = ["gone-key"]
    hook_key[0].webhook_secret = "whsec_" + "B" * 32
    db.session.commit()
    app.config["SECRET_KEYS"] = ["test-signing-key"]
    html = client.get(page).get_data(as_text=True)
    assert 'id="secret-unreadable"' in html and "Rotate the webhook secret" in html


def test_rotating_a_secret_no_key_opens_leaves_no_previous_one(app, hook_key):
    app.config["SECRET_KEYS"] = ["gone-key"]
    hook_key[0].webhook_secret = "whsec_" + "C" * 32
    db.session.commit()
    app.config["SECRET_KEYS"] = ["test-signing-key"]
    row = rotate_webhook_secret(hook_key[0].name)
    db.session.commit()
    assert row.webhook_secret.startswith("whsec_") and row.webhook_secret_previous_sealed is None

