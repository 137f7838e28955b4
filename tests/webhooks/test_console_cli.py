"""Staff see callbacks and their attempts; the CLI prints keys with their whsec_ secret."""
from __future__ import annotations

import json

import pytest

from app.auth.models import Role
from app.extensions import db
from app.jobs import service as jobs
from app.webhooks import service
from app.webhooks.models import EventStatus
from tests.webhooks.receiver import Reply


def dead_event(hook_key, receiver):
    receiver.script = lambda n: Reply(410)
    event = service.emit("mandatory_session.completed", {"session_id": "ms_c"}, api_key_id=hook_key[0].id,
                         callback_url=receiver.url)
    db.session.commit()
    jobs.run_due_jobs()
    db.session.refresh(event)
    return event


def test_staff_see_the_attempts_of_a_dead_callback(client, login, hook_key, receiver):
    event = dead_event(hook_key, receiver)
    login(Role.REVIEW_MANAGER)
    listing = client.get("/console/webhooks/?status=dead").get_data(as_text=True)
    assert event.message_id in listing
    page = client.get(f"/console/webhooks/{event.message_id}").get_data(as_text=True)
    assert "410" in page and " ms</td>" in page and "http_error" in page


def test_staff_replay_re_enables_the_endpoint_and_delivers(client, login, hook_key, receiver):
    from tests.conftest import csrf_from

    event = dead_event(hook_key, receiver)
    receiver.script = lambda n: Reply(200)
    login(Role.REVIEW_MANAGER)
    page = client.get(f"/console/webhooks/{event.message_id}").get_data(as_text=True)
    response = client.post(f"/console/webhooks/{event.message_id}/replay", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 303
    jobs.run_due_jobs()
    db.session.refresh(event)
    assert event.status is EventStatus.DELIVERED and receiver.wait_for(2)[-1].webhook_id == event.message_id


@pytest.mark.parametrize("role,status", [(Role.REVIEW_EXECUTOR, 403), (Role.QUALITY_INSPECTOR, 403)])
def test_other_roles_may_not_see_callbacks(client, login, role, status):
    login(role)
    assert client.get("/console/webhooks/").status_code == status


def test_auditor_may_look_but_not_replay(client, login, hook_key, receiver):
    event = dead_event(hook_key, receiver)
    login(Role.AUDITOR)
    assert client.get(f"/console/webhooks/{event.message_id}").status_code == 200
    assert client.post(f"/console/webhooks/{event.message_id}/replay").status_code in (400, 403)
    db.session.refresh(event)
    assert event.replays == 0


def test_cli_create_prints_one_json_object_with_key_secret_and_prefixes(app):
    result = app.test_cli_runner().invoke(args=["api-keys", "create", "erp", "--callback-prefix",
                                                "https://erp.example/hooks/", "--callback-prefix", "http://127.0.0.1:"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["api_key"].startswith("hf_") and printed["webhook_secret"].startswith("whsec_")
    assert printed["callback_prefixes"] == ["https://erp.example/hooks/", "http://127.0.0.1:"]


def test_cli_rotate_secret_keeps_the_old_one_signing_until_end(app):
    runner = app.test_cli_runner()
    created = json.loads(runner.invoke(args=["api-keys", "create", "erp"]).output)
    rotated = json.loads(runner.invoke(args=["api-keys", "rotate-secret", "erp"]).output)
    assert rotated["webhook_secret"] != created["webhook_secret"] and rotated["previous_webhook_secret_still_signing"]
    ended = json.loads(runner.invoke(args=["api-keys", "rotate-secret", "erp", "--end"]).output)
    assert ended["previous_webhook_secret_still_signing"] is False


def test_cli_rotate_secret_of_unknown_key_fails(app):
    result = app.test_cli_runner().invoke(args=["api-keys", "rotate-secret", "nobody"])
    assert result.exit_code == 1 and "no active API key" in result.output
