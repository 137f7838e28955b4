"""Fixtures for the console tests: a seeded database (two versions, a client, an invitation, a response)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from flask import g

from app.audit.models import AuditEntry
from app.definitions.models import QuestionnaireVersion
from app.extensions import db
from app.reviews.models import Invitation
from tests.conftest import DATA, csrf_from, enrol_authenticator

FULL_PHONE = "13812341234"
FULL_NAME = "张三丰"

# all_types with the text of one question changed and one question added: the second version.
ALL_TYPES_V2 = (DATA / "all_types.yaml").read_text(encoding="utf-8").replace(
    "请问账户是您本人操作吗？", "请问您的账户是否由您本人操作？"
) + """  - id: extra_note
    type: notice
    text: {zh-CN: 新增提示, en: A new notice}
"""


@dataclass
class Seed:
    v1_id: int
    v2_id: int
    client_id: int
    invitation_id: int
    response_id: int
    key: str = "all-types"


@pytest.fixture
def seed(app, publish, make_client, make_invitation) -> Seed:
    """all-types v1 and v2, a client, an answered invitation (flagged) on v1."""
    from app.definitions.service import publish_text
    from app.reviews.service import submit_response

    v1 = publish("all_types")
    v2, _created = publish_text(ALL_TYPES_V2, "test")  # the shared fixture takes long text for a file name
    db.session.commit()
    client = make_client(name=FULL_NAME, phone=FULL_PHONE)
    invitation = make_invitation(client=client, version=v1)
    response, _created = submit_response(
        invitation, {"consent": "y", "own_operation": "no", "operator": "staff", "channels": ["app", "branch"],
                     "age": "12", "satisfaction": "4"}, "zh-CN")
    db.session.commit()
    return Seed(v1.id, v2.id, client.id, invitation.id, response.id)


def csrf_token(client) -> str:
    """A CSRF token of the test client's session (from a page every visitor may open)."""
    page = client.get("/console/")
    if page.status_code != 200:
        page = client.get("/login")
    return csrf_from(page.get_data(as_text=True))


def post(client, url: str, data: dict | None = None, **kwargs):
    """POST a form with the session's CSRF token."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client)}, **kwargs)


def state() -> dict:
    """What the console's actions can change, to prove a refused request changed nothing."""
    count = lambda model: db.session.scalar(sa.select(sa.func.count()).select_from(model))  # noqa: E731
    db.session.expire_all()
    return {
        "versions": count(QuestionnaireVersion),
        "retired": db.session.scalar(sa.select(sa.func.count()).select_from(QuestionnaireVersion)
                                     .where(QuestionnaireVersion.retired_at.is_not(None))),
        "invitations": count(Invitation),
        "audit": count(AuditEntry),
    }


@pytest.fixture
def sign_in(app, client):
    """Sign the test client in as a new staff member of a role; returns the user.

    The shared `login` fixture goes through /login, which costs two argon2 computations per test;
    the sign-in flow is the auth area's to test, so here the account is created with a placeholder
    hash and an authenticator, and the session is set the way app.auth.routes sets it at sign-in.
    """
    import time

    from app.auth.models import StaffUser
    from app.auth.routes import LAST_SEEN, SIGNED_IN_AT

    counter = iter(range(1, 1_000_000))

    def sign_in(role):
        n = next(counter)
        user = StaffUser(username=f"{role.value}{n}", display_name=f"{role.value} {n}", role=role,
                         password_hash="!not-a-password-hash")
        enrol_authenticator(user)
        db.session.add(user)
        db.session.commit()
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
            session[SIGNED_IN_AT] = session[LAST_SEEN] = int(time.time())
        # pytest-flask's test context is shared by the requests: forget the user Flask-Login cached in g.
        g.pop("_login_user", None)
        return user

    return sign_in
