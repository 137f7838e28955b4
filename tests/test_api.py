"""The /api/v1 endpoints of the core: questionnaires, clients, invitations, the OpenAPI document."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.clients.models import Client
from app.definitions.models import QuestionnaireVersion
from app.extensions import db
from app.reviews.models import Invitation

DATA = Path(__file__).parent / "data"


def yaml_body(name="all_types"):
    return (DATA / f"{name}.yaml").read_text(encoding="utf-8")


def publish_yaml(client, headers, text):
    return client.post("/api/v1/questionnaires", data=text.encode(),
                       headers={**headers, "Content-Type": "application/yaml"})


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer hf_nope_nope"}, {"X-API-Key": "wrong"}])
def test_unknown_api_key_gets_401(client, headers):
    response = client.get("/api/v1/questionnaires", headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["message"] == "missing or unknown API key"


def test_revoked_api_key_gets_401(app, client, api_key):
    from app.api.service import revoke_api_key

    revoke_api_key("test-system")
    db.session.commit()
    assert client.get("/api/v1/questionnaires", headers=api_key).status_code == 401


def test_api_key_is_stored_hashed(app, api_key):
    from app.api.models import ApiKey

    presented = api_key["Authorization"].split()[1]
    row = db.session.scalars(sa.select(ApiKey)).one()
    assert presented not in (row.key_hash, row.key_prefix) and len(row.key_hash) == 64


def test_publishing_yaml_creates_version_one(client, api_key):
    response = publish_yaml(client, api_key, yaml_body())
    assert response.status_code == 201
    assert response.json["version"] == 1 and response.json["created"] is True
    assert response.json["content_hash"].startswith("sha256:")


def test_publishing_the_same_content_returns_the_same_version(client, api_key):
    first = publish_yaml(client, api_key, yaml_body())
    again = publish_yaml(client, api_key, "# a comment changes nothing\n" + yaml_body())
    assert again.status_code == 200
    assert again.json["version"] == first.json["version"] and again.json["created"] is False
    assert count(QuestionnaireVersion) == 1


def test_changed_content_becomes_the_next_version(client, api_key):
    publish_yaml(client, api_key, yaml_body())
    response = publish_yaml(client, api_key, yaml_body().replace("感谢您的支持！", "谢谢！"))
    assert response.status_code == 201 and response.json["version"] == 2


def test_publishing_json_definition(client, api_key):
    import yaml

    definition = yaml.safe_load(yaml_body())
    response = client.post("/api/v1/questionnaires", json=definition, headers=api_key)
    assert response.status_code == 201 and response.json["key"] == "all-types"


def test_invalid_definition_names_path_and_line_and_stores_nothing(client, api_key):
    broken = yaml_body().replace("severity: high", "severity: hgh", 1)
    response = publish_yaml(client, api_key, broken)
    assert response.status_code == 422
    texts = [issue["text"] for issue in response.json["error"]["issues"]]
    assert any(re.match(r"questions\[2\]\.options\[1\]\.flag.*unknown severity 'hgh' \(line \d+\)", t) for t in texts), texts
    assert count(QuestionnaireVersion) == 0


def test_listing_shows_key_type_and_latest_version(client, api_key):
    publish_yaml(client, api_key, yaml_body())
    publish_yaml(client, api_key, yaml_body().replace("感谢您的支持！", "谢谢！"))
    items = client.get("/api/v1/questionnaires", headers=api_key).json["items"]
    assert items == [{"key": "all-types", "review_type": "suitability", "latest_version": 2, "versions": 2}]


def test_diff_lists_the_changed_text(client, api_key):
    publish_yaml(client, api_key, yaml_body())
    publish_yaml(client, api_key, yaml_body().replace("感谢您的支持！", "谢谢！"))
    changes = client.get("/api/v1/questionnaires/all-types/diff?from=1&to=2", headers=api_key).json["changes"]
    assert any(c["kind"] == "changed" and "closing" in c["path"] and c["new"] == "谢谢！" for c in changes), changes


def test_retired_version_is_not_used_for_new_invitations(client, api_key, make_client):
    publish_yaml(client, api_key, yaml_body())
    assert client.post("/api/v1/questionnaires/all-types/versions/1/retire", headers=api_key).status_code == 200
    person = make_client()
    response = client.post("/api/v1/invitations", headers=api_key,
                           json={"client_account": person.account, "questionnaire": "all-types",
                                 "context": {"product_name": "X"}})
    assert response.status_code == 422 and response.json["error"]["field"] == "questionnaire"


def test_clients_are_upserted_by_account(client, api_key):
    rows = [{"account": "A0000001", "name": "王五", "phone": "13900001111", "risk_level": "C4"},
            {"account": "A0000002", "name": "赵六", "birth_date": "1950-01-02"}]
    assert client.post("/api/v1/clients", json=rows, headers=api_key).json == {"created": 2, "updated": 0}
    rows[0]["name"] = "王五五"
    assert client.post("/api/v1/clients", json=rows[:1], headers=api_key).json == {"created": 0, "updated": 1}
    assert db.session.scalars(sa.select(Client.name).where(Client.account == "A0000001")).one() == "王五五"


@pytest.mark.parametrize("row, field", [
    ({"account": "A0000003", "name": "X", "phone": "12345"}, "phone"),
    ({"account": "A0000003", "name": "X", "risk_level": "C9"}, "risk_level"),
    ({"account": "A0000003", "name": "X", "birth_date": "1950-13-01"}, "birth_date"),
    ({"account": "A0000003", "name": "X", "id_last4": "12"}, "id_last4"),
    ({"account": "A0000003"}, "name"),
    ({"account": "A0000003", "name": "X", "shoe_size": "42"}, "shoe_size"),
])
def test_one_bad_client_row_writes_nothing_and_names_row_and_field(client, api_key, row, field):
    rows = [{"account": "A0000001", "name": "好人"}, row]
    response = client.post("/api/v1/clients", json=rows, headers=api_key)
    assert response.status_code == 422
    assert {"row": 1, "field": field} == {k: response.json["error"]["errors"][0][k] for k in ("row", "field")}
    assert count(Client) == 0


def test_invitation_returns_signed_url_and_short_url(client, api_key, make_client, publish):
    publish()
    person = make_client()
    response = client.post("/api/v1/invitations", headers=api_key, json={
        "client_account": person.account, "questionnaire": {"key": "all-types", "version": 1},
        "channel": "sms", "context": {"product_name": "稳健1号"}, "expires_at": "2099-01-01T00:00:00+08:00"})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "pending" and body["questionnaire"]["version"] == 1
    assert "/q/" in body["url"] and "/s/" in body["short_url"]
    assert len(body["short_url"]) < 40  # fits an SMS
    assert person.account not in body["url"] and person.name not in body["url"]


@pytest.mark.parametrize("payload, status, field", [
    ({"client_account": "NOPE0001", "questionnaire": "all-types", "context": {"product_name": "x"}}, 422, "client_account"),
    ({"client_account": "{account}", "questionnaire": "unknown-key"}, 422, "questionnaire"),
    ({"client_account": "{account}", "questionnaire": "all-types"}, 422, "context"),
    ({"client_account": "{account}", "questionnaire": "all-types", "context": {"product_name": "x"}, "channel": "fax"}, 422, "channel"),
    ({"client_account": "{account}", "questionnaire": "all-types", "context": {"product_name": "x"}, "expires_at": "2001-01-01T00:00:00Z"}, 422, "expires_at"),
    ({"client_account": "{account}", "questionnaire": "all-types", "context": {"product_name": "x"}, "expires_at": "next week"}, 422, "expires_at"),
    ({"client_account": "{account}", "questionnaire": {"key": "all-types", "version": 7}, "context": {"product_name": "x"}}, 422, "questionnaire"),
    ({"client_account": "{account}", "questionnaire": "all-types", "context": {"product_name": "x"}, "colour": "red"}, 422, "colour"),
])
def test_bad_invitation_requests_name_the_field_and_create_nothing(client, api_key, make_client, publish,
                                                                   payload, status, field):
    publish()
    person = make_client()
    body = json.loads(json.dumps(payload).replace("{account}", person.account))
    response = client.post("/api/v1/invitations", headers=api_key, json=body)
    assert response.status_code == status
    assert response.json["error"]["field"] == field
    assert count(Invitation) == 0


def test_missing_placeholder_is_named(client, api_key, make_client, publish):
    publish()
    person = make_client()
    response = client.post("/api/v1/invitations", headers=api_key,
                           json={"client_account": person.account, "questionnaire": "all-types"})
    assert response.json["error"]["missing"] == ["product_name"]


def test_malformed_json_gets_400(client, api_key):
    response = client.post("/api/v1/invitations", data=b'{"client_account": ',
                           headers={**api_key, "Content-Type": "application/json"})
    assert response.status_code == 400 and response.json["error"]["message"] == "malformed JSON"


def test_oversized_body_gets_413(app, client, api_key):
    response = client.post("/api/v1/clients", data=b"[" + b" " * (app.config["MAX_CONTENT_LENGTH"] + 10) + b"]",
                           headers={**api_key, "Content-Type": "application/json"})
    assert response.status_code == 413


def test_invitation_status_includes_the_response_with_flags(client, api_key, make_invitation):
    from app.reviews.service import submit_response

    invitation = make_invitation()
    submit_response(invitation, {"consent": True, "own_operation": "no", "operator": "staff", "age": 3,
                                 "satisfaction": 5}, "zh-CN")
    db.session.commit()
    body = client.get(f"/api/v1/invitations/{invitation.public_id}", headers=api_key).json
    assert body["status"] == "completed"
    assert body["response"]["version_hash"] == invitation.version.content_hash
    assert sorted(f["question_id"] for f in body["response"]["flagged"]) == ["operator", "own_operation"]


def test_unknown_invitation_gets_404(client, api_key):
    assert client.get("/api/v1/invitations/nope", headers=api_key).status_code == 404


def test_api_changes_are_audited_with_the_calling_system(client, api_key, make_client, publish):
    publish_yaml(client, api_key, yaml_body())
    actions = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.actor == "api:test-system")).all()
    assert "questionnaire.publish" in actions


def _spec_paths(spec) -> set[tuple[str, str]]:
    return {(method.upper(), "/api/v1" + re.sub(r"\{[^}]+\}", "{}", path))
            for path, item in spec["paths"].items() for method in item if method in ("get", "post", "put", "delete", "patch")}


def _route_paths(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = re.sub(r"<[^>]+>", "{}", rule.rule)
            found |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return found


def test_openapi_document_lists_exactly_the_real_routes(app, client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    assert _spec_paths(spec) == _route_paths(app)


def test_openapi_document_is_a_valid_openapi_31_schema(client):
    from jsonschema import Draft202012Validator

    spec = client.get("/api/v1/openapi.json").json
    for name, schema in spec["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)  # raises on an invalid schema
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
