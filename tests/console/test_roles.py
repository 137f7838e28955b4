"""Role matrix: every console page and action, for every role (7.4 division of duties) and anonymous."""
from __future__ import annotations

import pytest

from app.auth.models import Role
from tests.console.conftest import Seed, post, state

ADMIN, MANAGER, INSPECTOR, EXECUTOR, AUDITOR = (Role.ADMIN, Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR,
                                                 Role.REVIEW_EXECUTOR, Role.AUDITOR)
EVERYONE = {ADMIN, MANAGER, INSPECTOR, EXECUTOR, AUDITOR}
READ_QUESTIONNAIRES = {ADMIN, MANAGER, INSPECTOR, AUDITOR}
CHANGE = {ADMIN, MANAGER}
READ_INVITATIONS = {ADMIN, MANAGER, INSPECTOR, EXECUTOR}
READ_CLIENTS = {ADMIN, MANAGER, INSPECTOR}

NEW_DEFINITION = """key: role-check
title: {zh-CN: 角色测试, en: Role check}
review_type: other
identity_check: none
questions:
  - id: ok
    type: yes_no
    text: {zh-CN: 好吗？, en: "OK?"}
"""

# (name, method, url from the seed, form data from the seed, roles allowed, what an allowed call changes)
PAGES = [
    ("home", "GET", lambda s: "/console/", None, EVERYONE),
    ("questionnaires", "GET", lambda s: "/console/questionnaires", None, READ_QUESTIONNAIRES),
    ("versions", "GET", lambda s: f"/console/questionnaires/{s.key}", None, READ_QUESTIONNAIRES),
    ("preview", "GET", lambda s: f"/console/questionnaires/{s.key}/v1?text=en", None, READ_QUESTIONNAIRES),
    ("diff", "GET", lambda s: f"/console/questionnaires/{s.key}/diff?from=1&to=2", None, READ_QUESTIONNAIRES),
    ("publish form", "GET", lambda s: "/console/questionnaires/-/publish", None, CHANGE),
    ("retire form", "GET", lambda s: f"/console/questionnaires/{s.key}/v1/retire", None, CHANGE),
    ("invitations", "GET", lambda s: "/console/invitations?status=completed", None, READ_INVITATIONS),
    ("invitation form", "GET", lambda s: f"/console/invitations/new?version={s.key}:2", None, CHANGE),
    ("invitation", "GET", lambda s: f"/console/invitations/{s.invitation_id}", None, READ_INVITATIONS),
    ("response", "GET", lambda s: f"/console/responses/{s.response_id}", None, READ_INVITATIONS),
    ("clients", "GET", lambda s: "/console/clients?account=A", None, READ_CLIENTS),
    ("client", "GET", lambda s: f"/console/clients/{s.client_id}", None, READ_CLIENTS),
]
ACTIONS = [
    ("publish", "POST", lambda s: "/console/questionnaires/-/publish", lambda s: {"text": NEW_DEFINITION},
     CHANGE, {"versions": 1}),
    ("retire", "POST", lambda s: f"/console/questionnaires/{s.key}/v1/retire", lambda s: {"confirm": "y"},
     CHANGE, {"retired": 1}),
    ("create invitation", "POST", lambda s: "/console/invitations/new",
     lambda s: {"version": f"{s.key}:2", "client_account": "A0000001", "channel": "sms",
                "ctx_product_name": "稳健理财1号"},
     CHANGE, {"invitations": 1}),
]
ROLES = [ADMIN, MANAGER, INSPECTOR, EXECUTOR, AUDITOR]


def _cases(rows):
    return [pytest.param(row, role, id=f"{row[0]}-{role.value}") for row in rows for role in ROLES]


@pytest.mark.parametrize("row", PAGES, ids=lambda row: row[0])
def test_page_is_shown_to_the_roles_that_may_see_it_and_refused_to_others(client, sign_in, seed, row):
    name, _method, url, _data, allowed = row
    seen = {}
    for role in ROLES:  # reading changes nothing, so one seeded database serves every role
        sign_in(role)
        seen[role.value] = client.get(url(seed)).status_code
    assert seen == {role.value: 200 if role in allowed else 403 for role in ROLES}, name


@pytest.mark.parametrize("row, role", _cases(ACTIONS))
def test_action_is_carried_out_only_for_the_roles_that_may_change_data(client, sign_in, seed, row, role):
    name, _method, url, data, allowed, changes = row
    sign_in(role)
    before = state()
    response = post(client, url(seed), data(seed))
    after = state()
    if role in allowed:
        assert response.status_code == 303, response.get_data(as_text=True)
        for key, delta in changes.items():
            assert after[key] == before[key] + delta, name
        assert after["audit"] > before["audit"], "the change is audited"
    else:
        assert response.status_code == 403
        assert after == before, "a refused action changes nothing"


@pytest.mark.parametrize("row", PAGES + ACTIONS, ids=lambda row: row[0])
def test_anonymous_visitor_is_sent_to_the_login_page(client, app, row):
    name, method, url = row[0], row[1], row[2]
    ids = Seed(v1_id=1, v2_id=2, client_id=1, invitation_id=1, response_id=1)  # never looked up
    before = state()
    if method == "GET":
        response = client.get(url(ids))
    else:
        response = post(client, url(ids), row[3](ids))
    assert response.status_code == 302, name
    assert response.headers["Location"].split("?")[0].endswith("/login")
    assert state() == before


def test_matrix_covers_every_console_route(app):
    """A new console route must be added to the matrix above."""
    covered = {"/console/", "/console/questionnaires", "/console/questionnaires/<key>",
               "/console/questionnaires/<key>/v<int:number>", "/console/questionnaires/<key>/diff",
               "/console/questionnaires/-/publish", "/console/questionnaires/<key>/v<int:number>/retire",
               "/console/invitations", "/console/invitations/new", "/console/invitations/<int:invitation_id>",
               "/console/responses/<int:response_id>", "/console/clients", "/console/clients/<int:client_id>"}
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("console.")}
    assert routes == covered
