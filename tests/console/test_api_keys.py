"""Administrators' API key pages: the key shown once and working, revoking, rotating the secret."""
from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from app.api.models import ApiKey
from app.audit.models import AuditEntry
from app.auth.models import Role
from app.extensions import db
from tests.console.conftest import post


def shown(page_html: str, element_id: str) -> str:
    """The text of the element with this id on the page."""
    return html.unescape(re.search(rf'id="{element_id}">([^<]+)<', page_html).group(1))


def new_key(client, name: str = "crm", **fields):
    return post(client, "/console/api-keys/new", {"name": name, "callback_prefixes": "https://crm.example.com/hooks/",
                                                  "frame_origins": "https://open.example.com", **fields})


def test_a_key_made_in_the_console_is_shown_once_and_calls_the_api(client, sign_in):
    sign_in(Role.ADMIN)
    page = new_key(client).get_data(as_text=True)
    key, secret = shown(page, "api-key"), shown(page, "webhook-secret")
    row = db.session.scalars(sa.select(ApiKey)).one()
    assert (row.callback_prefixes, row.frame_origins, row.webhook_secret) == (
        ["https://crm.example.com/hooks/"], ["https://open.example.com"], secret)
    assert key not in row.key_hash and key not in client.get(f"/console/api-keys/{row.id}").get_data(as_text=True)
    assert client.get("/api/v1/questionnaires", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert db.session.scalars(sa.select(AuditEntry.actor).where(AuditEntry.action == "api_key.create")).one() \
        .startswith("staff:")


@pytest.mark.parametrize(("fields", "message"), [
    ({"callback_prefixes": "https://crm.example.com"}, "must end its host with '/' or ':'"),
    ({"frame_origins": "https://open.example.com/page"}, "is an origin"),
    ({"name": ""}, "Enter the system's name."),
])
def test_a_refused_key_names_the_field_and_writes_nothing(client, sign_in, fields, message):
    sign_in(Role.ADMIN)
    answer = new_key(client, **fields)
    assert answer.status_code == 422 and message in html.unescape(answer.get_data(as_text=True))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 0


def test_a_refused_key_reads_in_chinese_on_a_chinese_page(client, sign_in):
    sign_in(Role.ADMIN)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    page = html.unescape(new_key(client, frame_origins="https://open.example.com/page").get_data(as_text=True))
    assert "“https://open.example.com/page”应为源地址" in page and "is an origin" not in page


def test_a_revoked_key_is_refused_by_the_api(client, sign_in):
    sign_in(Role.ADMIN)
    key = shown(new_key(client).get_data(as_text=True), "api-key")
    row = db.session.scalars(sa.select(ApiKey)).one()
    assert post(client, f"/console/api-keys/{row.id}/revoke").status_code == 422  # the box not ticked
    assert post(client, f"/console/api-keys/{row.id}/revoke", {"confirm": "y"}).status_code == 303
    assert client.get("/api/v1/questionnaires", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_rotating_the_secret_keeps_the_old_one_signing_until_the_rotation_ends(client, sign_in):
    sign_in(Role.ADMIN)
    first = shown(new_key(client).get_data(as_text=True), "webhook-secret")
    row = db.session.scalars(sa.select(ApiKey)).one()
    second = shown(post(client, f"/console/api-keys/{row.id}/rotate-secret").get_data(as_text=True), "webhook-secret")
    db.session.refresh(row)
    assert second != first and (row.webhook_secret, row.webhook_secret_previous) == (second, first)
    assert post(client, f"/console/api-keys/{row.id}/end-rotation").status_code == 303
    db.session.refresh(row)
    assert row.webhook_secret_previous is None


@pytest.mark.parametrize("role", [Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR, Role.REVIEW_EXECUTOR, Role.AUDITOR])
def test_only_administrators_reach_the_key_pages(app, client, sign_in, role):
    from app.api.service import create_api_key

    row, _key = create_api_key("crm")
    db.session.commit()
    sign_in(role)
    statuses = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api_admin."):
            path = rule.rule.replace("<int:key_id>", str(row.id))
            for method in rule.methods & {"GET", "POST"}:
                statuses.add((post(client, path) if method == "POST" else client.get(path)).status_code)
    db.session.refresh(row)
    assert statuses == {403} and row.revoked_at is None
