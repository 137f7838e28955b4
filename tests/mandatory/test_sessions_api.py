"""POST/GET/cancel /api/v1/mandatory-sessions: idempotency, reuse, results, bad input, expiry."""
from __future__ import annotations

import hashlib
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from itsdangerous import URLSafeTimedSerializer

from app.db_types import utcnow
from app.extensions import db
from app.jobs import service as jobs
from app.mandatory import tokens
from app.mandatory.models import MandatorySession
from app.reviews.models import Invitation, Response
from app.webhooks.models import WebhookEvent

GOOD = {"consent": "y", "own_operation": "yes", "age": "12", "satisfaction": "4", "_action": "submit"}
FLAGGED = {**GOOD, "satisfaction": "1"}


@pytest.fixture
def body(make_client, publish, receiver):
    client_row, version = make_client(), publish()
    return {"client_account": client_row.account, "questionnaire": {"key": version.questionnaire.key},
            "context": {"product_name": "稳健理财1号"}, "business_ref": "open-123", "callback_url": receiver.url,
            "return_url": "http://127.0.0.1:9/after", "review_type": "new_account"}


def create(client, hook_key, body, key=None):
    headers = dict(hook_key[2], **({"Idempotency-Key": key} if key else {}))
    return client.post("/api/v1/mandatory-sessions", json=body, headers=headers)


def gate_path(response) -> str:
    return urlsplit(response.json["url"]).path


def answer(client, path, answers=GOOD):
    return client.post(path, data=answers)


def counts():
    return (db.session.scalar(sa.select(sa.func.count()).select_from(MandatorySession)),
            db.session.scalar(sa.select(sa.func.count()).select_from(Invitation)))


def test_create_returns_a_pending_session_with_its_url(client, hook_key, body):
    response = create(client, hook_key, body)
    assert response.status_code == 201
    assert response.json["status"] == "pending" and response.json["id"].startswith("ms_")
    assert "/m/" in response.json["url"] and response.json["expires_at"]
    assert response.headers["Location"].endswith(response.json["id"])


def test_same_idempotency_key_and_body_returns_the_same_session(client, hook_key, body):
    first = create(client, hook_key, body, key="k-1")
    again = create(client, hook_key, body, key="k-1")
    assert again.status_code == 201 and again.json["id"] == first.json["id"]
    assert again.headers["Idempotent-Replayed"] == "true" and counts() == (1, 1)


def test_same_idempotency_key_with_another_body_is_409_and_changes_nothing(client, hook_key, body):
    create(client, hook_key, body, key="k-1")
    response = create(client, hook_key, {**body, "business_ref": "other"}, key="k-1")
    assert response.status_code == 409 and response.json["error"]["field"] == "Idempotency-Key"
    assert counts() == (1, 1)


def test_pending_session_for_same_client_questionnaire_and_ref_is_reused(client, hook_key, body):
    first = create(client, hook_key, body)
    second = create(client, hook_key, body)
    assert second.status_code == 200 and second.json["id"] == first.json["id"] and counts() == (1, 1)


def test_a_new_session_is_opened_once_the_previous_one_finished(client, hook_key, body):
    first = create(client, hook_key, body)
    answer(client, gate_path(first))
    second = create(client, hook_key, body)
    assert second.status_code == 201 and second.json["id"] != first.json["id"]


def test_completed_session_shows_the_result(client, hook_key, body):
    created = create(client, hook_key, body)
    assert answer(client, gate_path(created)).status_code == 303
    got = client.get(f"/api/v1/mandatory-sessions/{created.json['id']}", headers=hook_key[2]).json
    assert got["status"] == "completed" and got["url"] is None
    result = got["result"]
    assert result["answers"]["own_operation"] == "yes" and result["flagged"] == []
    assert result["version_hash"].startswith("sha256:") and result["receipt_no"].startswith("HF")
    assert result["completed_at"] and got["review_type"] == "new_account"


def test_flagged_answer_makes_the_session_an_exception_with_labels(client, hook_key, body):
    created = create(client, hook_key, body)
    answer(client, gate_path(created), FLAGGED)
    got = client.get(f"/api/v1/mandatory-sessions/{created.json['id']}", headers=hook_key[2]).json
    assert got["status"] == "exception"
    assert got["result"]["flagged"][0]["label"]["en"] == "Client dissatisfied"


@pytest.mark.parametrize("answers,event_type", [(GOOD, "mandatory_session.completed"),
                                                (FLAGGED, "mandatory_session.exception")])
def test_finishing_writes_one_signed_callback_in_the_same_transaction(client, hook_key, body, receiver,
                                                                     answers, event_type):
    created = create(client, hook_key, body)
    answer(client, gate_path(created), answers)
    assert db.session.scalars(sa.select(WebhookEvent.event_type)).all() == [event_type]
    jobs.run_due_jobs()
    got = receiver.wait_for(1)[0]
    assert got.verified and got.payload["data"]["session_id"] == created.json["id"]
    assert got.payload["data"]["business_ref"] == "open-123"


def test_a_session_completed_twice_has_one_result_and_one_callback(client, hook_key, body):
    created = create(client, hook_key, body)
    path = gate_path(created)
    assert answer(client, path).status_code == 303
    assert answer(client, path, FLAGGED).status_code == 200  # the finish page, not a second result
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)) == 1
    got = client.get(f"/api/v1/mandatory-sessions/{created.json['id']}", headers=hook_key[2]).json
    assert got["status"] == "completed"


def test_cancel_closes_the_gate_with_410(client, hook_key, body):
    created = create(client, hook_key, body)
    cancelled = client.post(f"/api/v1/mandatory-sessions/{created.json['id']}/cancel", headers=hook_key[2])
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    page = client.get(gate_path(created))
    assert page.status_code == 410 and "withdrawn" in page.get_data(as_text=True)


def test_cancelling_a_finished_session_is_409(client, hook_key, body):
    created = create(client, hook_key, body)
    answer(client, gate_path(created))
    response = client.post(f"/api/v1/mandatory-sessions/{created.json['id']}/cancel", headers=hook_key[2])
    assert response.status_code == 409
    assert db.session.scalars(sa.select(MandatorySession.status)).one().value == "completed"


def test_overdue_session_is_expired_by_the_sweep_with_a_callback(client, hook_key, body, receiver):
    created = create(client, hook_key, {**body, "expires_in": 60})
    later = utcnow() + timedelta(minutes=2)
    jobs.schedule_periodic(later)
    jobs.run_due_jobs(now=later)
    jobs.run_due_jobs(now=later)
    got = receiver.wait_for(1)[0]
    assert got.payload["type"] == "mandatory_session.expired" and got.verified
    assert client.get(f"/api/v1/mandatory-sessions/{created.json['id']}", headers=hook_key[2]).json["status"] == "expired"


def test_expired_session_link_is_a_clear_410_page(client, hook_key, body):
    created = create(client, hook_key, {**body, "expires_in": 60})
    session = db.session.scalars(sa.select(MandatorySession)).one()
    session.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    page = client.get(gate_path(created))
    assert page.status_code == 410 and "deadline" in page.get_data(as_text=True)


def test_result_token_verifies_with_the_keys_webhook_secret(client, hook_key, body):
    created = create(client, hook_key, body)
    done = client.get(client.post(gate_path(created), data=GOOD).headers["Location"])
    assert b"gate-done" in done.data
    got = client.get(f"/api/v1/mandatory-sessions/{created.json['id']}", headers=hook_key[2]).json
    token = got["result"]["result_token"]
    secret = hook_key[0].webhook_secret
    assert tokens.verify_result([secret], token)["status"] == "completed"
    # The documented recipe, without our code: itsdangerous, HMAC-SHA256, the decoded whsec bytes.
    import base64

    serializer = URLSafeTimedSerializer(base64.b64decode(secret.removeprefix("whsec_")),
                                        salt="huifang.mandatory-result.v1",
                                        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256})
    assert serializer.loads(token)["sid"] == created.json["id"]


def test_result_token_does_not_verify_with_another_secret(client, hook_key, body):
    created = create(client, hook_key, body)
    answer(client, gate_path(created))
    token = client.get(f"/api/v1/mandatory-sessions/{created.json['id']}", headers=hook_key[2]).json["result"]["result_token"]
    with pytest.raises(tokens.TokenError):
        tokens.verify_result(["whsec_" + "A" * 32], token)


def test_finish_page_carries_the_return_url_with_session_id_and_token(client, hook_key, body):
    created = create(client, hook_key, body)
    answer(client, gate_path(created))
    page = client.get(gate_path(created)).get_data(as_text=True)
    start = page.index('data-return-url="') + len('data-return-url="')
    url = page[start:page.index('"', start)].replace("&amp;", "&")
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("http://127.0.0.1:9/after?") and query["session_id"] == [created.json["id"]]
    assert tokens.verify_result([hook_key[0].webhook_secret], query["result_token"][0])["sid"] == created.json["id"]


@pytest.mark.parametrize("change,field", [
    ({"client_account": "NOBODY"}, "client_account"),
    ({"questionnaire": {"key": "no-such-questionnaire"}}, "questionnaire"),
    ({"questionnaire": {"key": "all-types", "version": 99}}, "questionnaire"),
    ({"callback_url": "http://169.254.169.254/latest"}, "callback_url"),
    ({"return_url": "https://evil.example/phish"}, "return_url"),
    ({"return_url": "javascript:alert(1)"}, "return_url"),
    ({"expires_in": 5}, "expires_in"),
    ({"expires_in": "soon"}, "expires_in"),
    ({"business_ref": ""}, "business_ref"),
    ({"context": []}, "context"),
    ({"review_type": "made_up"}, "review_type"),
    ({"surprise": 1}, "surprise"),
    ({"client_account": None}, "client_account"),
])
def test_bad_input_is_422_naming_the_field_and_creates_nothing(client, hook_key, body, change, field):
    response = create(client, hook_key, {**body, **change})
    assert response.status_code == 422, response.json
    assert response.json["error"]["field"] == field and field.split(".")[0] in response.json["error"]["message"]
    assert counts() == (0, 0)


def test_malformed_json_is_400(client, hook_key):
    response = client.post("/api/v1/mandatory-sessions", data="{not json", headers=hook_key[2],
                           content_type="application/json")
    assert response.status_code == 400 and counts() == (0, 0)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer hf_0000_wrong"}, {"X-API-Key": "nope"}])
def test_wrong_api_key_is_401(client, body, headers):
    assert client.post("/api/v1/mandatory-sessions", json=body, headers=headers).status_code == 401
    assert counts() == (0, 0)


def test_another_keys_session_is_404(client, hook_key, body):
    from app.api.service import create_api_key

    created = create(client, hook_key, body)
    _row, other = create_api_key("other-system")
    db.session.commit()
    response = client.get(f"/api/v1/mandatory-sessions/{created.json['id']}", headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 404


def test_ordinary_invitation_with_callback_url_reports_its_completion(client, hook_key, body, receiver):
    from tests.test_respond_flow import pass_identity, submit

    created = client.post("/api/v1/invitations", headers=hook_key[2], json={
        "client_account": body["client_account"], "questionnaire": "all-types",
        "context": {"product_name": "x"}, "callback_url": receiver.url})
    assert created.status_code == 201, created.json
    from app.reviews.service import find_by_public_id

    invitation = find_by_public_id(created.json["id"])
    pass_identity(client, invitation)
    submit(client, invitation, {k: v for k, v in GOOD.items() if k != "_action"})
    jobs.run_due_jobs()
    got = receiver.wait_for(1)[0]
    assert got.verified and got.payload["type"] == "invitation.completed"
    assert got.payload["data"]["invitation_id"] == created.json["id"]


def test_ordinary_invitation_with_a_foreign_callback_url_is_422_and_not_created(client, hook_key, body):
    response = client.post("/api/v1/invitations", headers=hook_key[2], json={
        "client_account": body["client_account"], "questionnaire": "all-types",
        "context": {"product_name": "x"}, "callback_url": "http://10.1.2.3/internal"})
    assert response.status_code == 422 and response.json["error"]["field"] == "callback_url"
    assert counts() == (0, 0)


@pytest.mark.parametrize("change, message", [
    ({"callback_url": "http://10.1.2.3/internal"},
     "callback_url: not under an allowed callback prefix of this API key (http://127.0.0.1:)"),
    ({"return_url": "https://evil.example/phish"},
     "return_url: not under an allowed callback prefix or frame origin of this API key"),
    ({"client_account": "NOBODY"}, "client_account: unknown client account 'NOBODY'"),
])
def test_refusals_stay_english_for_a_caller_that_asks_for_chinese(client, hook_key, body, change, message):
    response = client.post("/api/v1/mandatory-sessions", json={**body, **change},
                           headers={**hook_key[2], "Accept-Language": "zh-CN"})
    assert response.status_code == 422 and response.json["error"]["message"] == message
