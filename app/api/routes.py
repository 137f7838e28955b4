"""/api/v1: thin JSON routes over the services; every change is audited by the services."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from flask import Blueprint, abort, jsonify, request, url_for

from app.api import admin
from app.api.openapi import openapi_document
from app.api.auth import actor, current_api_key, require_api_key
from app.clients.service import ClientImportError, upsert_clients
from app.db_types import utcnow
from app.definitions import service as definitions
from app.errors import abort_with
from app.extensions import db
from app.params import row_id
from app.reviews import service as reviews
from app.reviews.models import Invitation
from app.webhooks.service import CallbackUrlError, register_invitation_callback
from questionnaires.loader import DefinitionError

bp = Blueprint("api", __name__, url_prefix="/api/v1")
blueprints = [bp, admin.bp]  # the administrators' key pages (/console/api-keys) live beside the API
PUBLIC_ENDPOINTS = {"api.openapi"}


@bp.before_request
def _authenticate():
    """Every endpoint but the OpenAPI document needs a valid API key."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    return require_api_key()


def json_body(expect: type = dict) -> Any:
    """The parsed JSON body of the expected shape, or 400 with the reason."""
    if not request.is_json:
        abort_with(415 if request.data else 400, "send a JSON body with Content-Type: application/json")
    data = request.get_json(silent=True)
    if data is None:
        abort_with(400, "malformed JSON")
    if not isinstance(data, expect):
        abort_with(400, f"the body must be a JSON {'array' if expect is list else 'object'}")
    return data


def parse_time(data: dict, field: str) -> Optional[datetime]:
    """An ISO 8601 timestamp with a zone, or 422 naming the field."""
    value = data.get(field)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        abort_with(422, f"{field}: not an ISO 8601 timestamp", field=field)
    if parsed.tzinfo is None:
        abort_with(422, f"{field}: give a time zone, e.g. 2026-12-31T23:59:00+08:00", field=field)
    return parsed


def definition_error(exc: DefinitionError):
    """422 listing every problem of a definition with its path and line."""
    issues = [{"path": i.path, "line": i.line, "message": i.message, "text": str(i)} for i in exc.issues]
    abort_with(422, "the definition is not valid", field="definition", issues=issues)


def version_json(version) -> dict:
    """A published version as the API shows it."""
    return {
        "key": version.questionnaire.key,
        "version": version.number,
        "content_hash": version.content_hash,
        "review_type": version.questionnaire.review_type.value,
        "title": version.definition["title"],
        "published_at": version.published_at.isoformat(),
        "published_by": version.published_by,
        "retired_at": version.retired_at.isoformat() if version.retired_at else None,
    }


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document of this API."""
    return jsonify(openapi_document())


@bp.get("/questionnaires")
def list_questionnaires():
    """Each published questionnaire with its key, review type and latest version."""
    items = [
        {"key": row["questionnaire"].key, "review_type": row["questionnaire"].review_type.value,
         "latest_version": row["latest_version"], "versions": row["version_count"]}
        for row in definitions.list_questionnaires()
    ]
    return jsonify({"items": items})


@bp.post("/questionnaires")
def publish_questionnaire():
    """Publish a definition (JSON object, or YAML text with Content-Type application/yaml)."""
    try:
        if request.mimetype in ("application/yaml", "application/x-yaml", "text/yaml"):
            version, created = definitions.publish_text(request.get_data(as_text=True), actor())
        else:
            version, created = definitions.publish_data(json_body(), actor())
    except DefinitionError as exc:
        definition_error(exc)
    db.session.commit()
    return jsonify({**version_json(version), "created": created}), (201 if created else 200)


def _questionnaire_or_404(key: str):
    questionnaire = definitions.get_questionnaire(key)
    if questionnaire is None:
        abort(404, f"unknown questionnaire '{key}'")
    return questionnaire


def _version_or_404(key: str, number: int):
    version = definitions.get_version(key, number)
    if version is None:
        abort(404, f"questionnaire '{key}' has no version {number}")
    return version


@bp.get("/questionnaires/<key>")
def questionnaire_versions(key: str):
    """All versions of one questionnaire."""
    questionnaire = _questionnaire_or_404(key)
    return jsonify({"key": key, "review_type": questionnaire.review_type.value,
                    "versions": [version_json(v) for v in questionnaire.versions]})


@bp.get("/questionnaires/<key>/versions/<int:number>")
def questionnaire_version(key: str, number: int):
    """One version with its full definition."""
    version = _version_or_404(key, number)
    return jsonify({**version_json(version), "definition": version.definition})


@bp.post("/questionnaires/<key>/versions/<int:number>/retire")
def retire_version(key: str, number: int):
    """Retire a version: no new invitations, its links stop working; kept for the record."""
    version = _version_or_404(key, number)
    changed = definitions.retire_version(version, actor())
    db.session.commit()
    return jsonify({**version_json(version), "changed": changed})


@bp.get("/questionnaires/<key>/diff")
def diff(key: str):
    """What changed between two versions (?from=1&to=2)."""
    try:
        old_n, new_n = row_id(request.args["from"]), row_id(request.args["to"])
    except (KeyError, ValueError):
        abort_with(422, "give ?from=N&to=M as version numbers", field="from")
    old, new = _version_or_404(key, old_n), _version_or_404(key, new_n)
    return jsonify({"key": key, "from": old_n, "to": new_n, "changes": definitions.diff_versions(old, new)})


@bp.post("/clients")
def upsert():
    """Create or update clients by account number (a list); all valid or nothing written."""
    rows = json_body(list)
    try:
        result = upsert_clients(rows, actor())
    except ClientImportError as exc:
        abort_with(422, "some rows are invalid; nothing was written",
                   field="clients", errors=[e.as_dict() for e in exc.errors])
    db.session.commit()
    return jsonify(result)


INVITATION_FIELDS = {"client_account", "questionnaire", "review_type", "channel", "context",
                     "expires_at", "opens_at"}


def client_and_questionnaire(data: dict, allowed_fields: set[str]) -> tuple[str, Optional[int]]:
    """Check the fields shared by invitations and mandatory sessions; returns (key, version)."""
    unknown = sorted(set(data) - allowed_fields)
    if unknown:
        abort_with(422, f"unknown field '{unknown[0]}'", field=unknown[0])
    if not isinstance(data.get("client_account"), str) or not data["client_account"]:
        abort_with(422, "client_account: required string", field="client_account")
    questionnaire = data.get("questionnaire")
    if isinstance(questionnaire, str):
        questionnaire = {"key": questionnaire}
    if not isinstance(questionnaire, dict) or not isinstance(questionnaire.get("key"), str):
        abort_with(422, "questionnaire: give {\"key\": ..., \"version\": optional number}", field="questionnaire")
    version = questionnaire.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        abort_with(422, "questionnaire.version: must be a whole number", field="questionnaire.version")
    return questionnaire["key"], version


def invitation_request(data: dict) -> reviews.InvitationRequest:
    """Read and check the body of POST /invitations."""
    key, version = client_and_questionnaire(data, INVITATION_FIELDS)
    context = data.get("context") or {}
    if not isinstance(context, dict):
        abort_with(422, "context: must be an object", field="context")
    return reviews.InvitationRequest(
        client_account=data["client_account"], questionnaire_key=key,
        version_number=version, review_type=data.get("review_type"),
        channel=data.get("channel") or "link", context=context,
        expires_at=parse_time(data, "expires_at"), opens_at=parse_time(data, "opens_at"),
    )


def invitation_json(invitation: Invitation) -> dict:
    """An invitation with its status and, once answered, its response."""
    now = utcnow()
    body = {
        "id": invitation.public_id,
        "status": invitation.effective_status(now).value,
        "client_account": invitation.client.account,
        "questionnaire": {"key": invitation.version.questionnaire.key, "version": invitation.version.number,
                          "content_hash": invitation.version.content_hash},
        "review_type": invitation.review_type.value,
        "channel": invitation.channel.value,
        "created_at": invitation.created_at.isoformat(),
        "expires_at": invitation.expires_at.isoformat(),
        "opens_at": invitation.opens_at.isoformat() if invitation.opens_at else None,
        "response": None,
    }
    response = reviews.stored_response(invitation.id)
    if response is not None:
        body["response"] = {
            "receipt_no": response.receipt_no,
            "submitted_at": response.submitted_at.isoformat(),
            "channel": response.channel.value,
            "version_hash": response.version_hash,
            "answers": response.answers,
            "flagged": reviews.flagged_answers(response.id),
        }
    return body


@bp.post("/invitations")
def create_invitation():
    """Invite a client to answer a pinned version; returns the signed URL and a short URL."""
    data = json_body()
    callback_url = data.pop("callback_url", None)  # optional: invitation.* callbacks (app.webhooks)
    req = invitation_request(data)
    try:
        invitation = reviews.create_invitation(req, actor())
        if callback_url is not None:
            register_invitation_callback(invitation.id, current_api_key(), callback_url)
    except reviews.InvalidRequest as exc:
        abort_with(422, f"{exc.field}: {exc.message}", field=exc.field, **exc.extra)
    except CallbackUrlError as exc:
        abort_with(422, str(exc), field="callback_url")
    db.session.commit()
    body = invitation_json(invitation)
    body.update(url=reviews.invitation_url(invitation), short_url=reviews.short_url(invitation))
    return jsonify(body), 201, {"Location": url_for(".get_invitation", public_id=invitation.public_id)}


@bp.get("/invitations/<public_id>")
def get_invitation(public_id: str):
    """An invitation's status and response."""
    invitation = reviews.find_by_public_id(public_id)
    if invitation is None:
        abort(404, f"unknown invitation '{public_id}'")
    return jsonify(invitation_json(invitation))
