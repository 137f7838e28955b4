"""Fixtures: an app on a fresh database per test, the test client, and factories returning callables."""
from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from app import create_app
from app.auth.models import Role
from app.db_types import utcnow
from app.extensions import db
from tests.dbsetup import TestDatabase

DATA = Path(__file__).parent / "data"
BUILTIN = Path(__file__).resolve().parent.parent / "questionnaires" / "builtin"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def compile_translations() -> None:
    """Compile the message catalogs when a .po is newer than its .mo (make does this too)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in (Path(__file__).resolve().parent.parent / "app" / "translations").glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as src:
                catalog = read_po(src)
            with mo.open("wb") as out:
                write_mo(out, catalog)


@pytest.fixture(scope="session")
def test_database():
    """The run's own database with the schema built once (by the migrations)."""
    compile_translations()
    database = TestDatabase()
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database.url, "SECRET_KEYS": ["t"]})
    with app.app_context():
        from app.schema import create_schema

        create_schema()
        db.engine.dispose()
    yield database
    database.drop()


@pytest.fixture
def app(test_database, tmp_path):
    """An app bound to a fresh, empty database."""
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": test_database.url_for_test(),
        "SECRET_KEYS": ["test-old-key", "test-signing-key"],
        "PUBLIC_BASE_URL": "http://localhost",
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": "localhost",
        "INSTANCE_TMP": str(tmp_path),
        "BACKUP_DIR": str(tmp_path / "backups"),
        # Cheap password hashing: the tests check behaviour, not argon2's cost.
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 1024,
    })
    app.test_client_class = EnglishByDefaultClient
    yield app
    with app.app_context():
        db.session.remove()
        test_database.reset(db.engine)
        db.engine.dispose()


@pytest.fixture
def app_with(app):
    """Another app on the test's database with some settings changed; its engine is closed at the end
    (an engine left to the garbage collector drops open PostgreSQL connections with a ResourceWarning)."""
    made = []

    def make(**overrides):
        other = create_app({**app.config, **overrides})
        other.test_client_class = EnglishByDefaultClient
        made.append(other)
        return other

    yield make
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


class EnglishByDefaultClient(FlaskClient):
    """Test client whose browser asks for English, so assertions read the English msgids.

    The product defaults to zh-CN; tests of that pass their own Accept-Language header.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def csrf_from(html: str) -> str:
    """The CSRF token in a rendered form."""
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in_status(flask_app, username: str, password: str) -> int:
    """Send a password from a new browser at 127.0.0.1; the status (302 right, 401 refused, 429 limited)."""
    with flask_app.test_client() as browser:
        token = csrf_from(browser.get("/login").get_data(as_text=True))
        return browser.post("/login", data={"username": username, "password": password,
                                            "csrf_token": token}).status_code


@pytest.fixture
def make_client(app):
    """Create a client; keyword arguments override the defaults."""
    counter = iter(range(1, 1_000_000))

    def make(**overrides):
        from app.clients.models import Client, RiskLevel

        n = next(counter)
        values = dict(account=f"A{n:07d}", name="张三丰", phone="13812341234", email=f"c{n}@example.com",
                      postal_address="上海市浦东新区世纪大道100号", id_last4="123X",
                      birth_date=date(1958, 5, 31), risk_level=RiskLevel.C3,
                      servicing_staff_code="S001", servicing_staff_name="李四", branch="上海分公司")
        values.update(overrides)
        client = Client(**values)
        db.session.add(client)
        db.session.commit()
        return client

    return make


@pytest.fixture
def publish(app):
    """Publish a definition from tests/data, questionnaires/builtin, or a YAML string."""

    def publish(name_or_text: str = "all_types", actor: str = "test"):
        from app.definitions.service import publish_text

        if "\n" not in name_or_text:  # a name, not YAML text
            for folder in (DATA, BUILTIN):
                path = folder / f"{name_or_text}.yaml"
                if path.exists():
                    name_or_text = path.read_text(encoding="utf-8")
                    break
        version, _created = publish_text(name_or_text, actor)
        db.session.commit()
        return version

    return publish


@pytest.fixture
def make_invitation(app, make_client, publish):
    """Create an invitation (and what it needs); keyword arguments override the defaults."""

    def make(client=None, version=None, context=None, **overrides):
        from app.reviews.service import InvitationRequest, create_invitation

        client = client or make_client()
        version = version or publish()
        req = InvitationRequest(client_account=client.account, questionnaire_key=version.questionnaire.key,
                                version_number=version.number,
                                context=context if context is not None else {"product_name": "稳健理财1号"},
                                **overrides)
        invitation = create_invitation(req, "test")
        db.session.commit()
        return invitation

    return make


@pytest.fixture
def make_campaign(app, publish):
    """Create a campaign (committed); keyword arguments override CampaignSpec fields."""

    def make(**overrides):
        from app.campaigns.service import CampaignSpec, create_campaign

        version = overrides.pop("version", None) or publish()
        now = overrides.pop("now", None)
        values = dict(name="Test campaign", questionnaire_key=version.questionnaire.key,
                      version_number=version.number, channel_plan=["sms", "email"], reminder_days=[3, 7],
                      context={"product_name": "稳健理财1号"})
        values.update(overrides)
        campaign = create_campaign(CampaignSpec(**values), "test", now=now)
        db.session.commit()
        return campaign

    return make


@pytest.fixture
def letter_app(app):
    """Letters render in this process (no worker pool) in tests."""
    app.config["LETTER_PROCESSES"] = 1
    return app


@pytest.fixture
def letter_invitation(letter_app, make_invitation, publish):
    """A suitability invitation sent by letter."""

    def make(client=None, **overrides):
        version = overrides.pop("version", None) or publish("suitability")
        return make_invitation(client=client, version=version, channel="letter",
                               context={"product_name": "稳健理财1号", "product_risk": "R3"}, **overrides)

    return make


@pytest.fixture
def printed_letter(letter_invitation):
    """An invitation printed in a batch; returns (letter, batch)."""
    from app.letters.service import Selection, create_batch, run_batch

    def make(client=None, **overrides):
        invitation = letter_invitation(client=client, **overrides)
        batch = create_batch(Selection(invitation_ids=[invitation.id]), "test", enqueue_job=False)
        db.session.commit()
        batch = run_batch(batch.id)
        db.session.commit()
        from app.letters.service import letter_for_invitation

        return letter_for_invitation(invitation.id), batch

    return make


@pytest.fixture
def drop_guards(app):
    """A callable that lets audit_log rows be changed: what a tamperer with database rights does first.

    PostgreSQL's run shares one database, whose reset between tests keeps the triggers as they are:
    the guard is enabled again after the test.
    """
    def drop() -> None:
        if db.engine.dialect.name == "postgresql":
            db.session.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
        else:
            db.session.execute(sa.text("DROP TRIGGER audit_log_no_update"))
            db.session.execute(sa.text("DROP TRIGGER audit_log_no_delete"))

    yield drop
    if db.engine.dialect.name == "postgresql":
        db.session.rollback()
        db.session.execute(sa.text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change"))
        db.session.commit()


def enrol_authenticator(user) -> str:
    """Give an account an authenticator app's secret, as if its holder had set one up; returns the secret.

    A shortcut for tests about other things: the firm's default (STAFF_TWO_FACTOR_REQUIRED) sends
    an account without one to the set-up page. tests/auth/test_two_factor.py sets one up the real way.
    """
    from app.auth.two_factor import new_secret

    user.totp_secret, user.totp_enabled_at = new_secret(), utcnow()
    return user.totp_secret


def current_code(user) -> str:
    """A code the server takes now: the app's code for now, or for the next step when now's was used.

    A code is good once (RFC 6238, 5.2) and the server takes the step after now as well, so a test
    can sign one account in twice in a 30-second step. Not the step before now: the step may end
    between this call and the server's check.
    """
    import pyotp

    from app.auth.models import StaffUser
    from app.auth.two_factor import DRIFT_STEPS

    totp = pyotp.TOTP(user.totp_secret)
    last = db.session.scalar(sa.select(StaffUser.totp_last_step).where(StaffUser.id == user.id))
    now = utcnow()
    step = max(totp.timecode(now), (last or 0) + 1)
    assert step <= totp.timecode(now) + DRIFT_STEPS, "this account's codes for now are used up"
    return totp.generate_otp(step)


def app_code(secret: str, offset: int = 0) -> str:
    """The code an authenticator app holding `secret` shows `offset` time steps after now (RFC 6238)."""
    import pyotp

    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(utcnow()) + offset)


def wrong_code(secret: str) -> str:
    """Six digits that are none of the codes the server takes now (the steps either side of now too)."""
    taken = {app_code(secret, offset) for offset in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in taken)


def complete_code_step(browser, response, user):
    """After a right password: give the authenticator's code when the sign-in asks for it; the answer."""
    if response.status_code == 302 and response.headers["Location"].startswith("/login/code"):
        page = browser.get("/login/code")
        response = browser.post("/login/code", data={"code": current_code(user),
                                                     "csrf_token": csrf_from(page.get_data(as_text=True))})
    return response


@pytest.fixture
def make_staff(app):
    """Create a staff account with a role; returns (user, password).

    The account has an authenticator app (two_factor=False: none yet, as a new account has).
    """
    counter = iter(range(1, 1_000_000))

    def make(role: Role = Role.ADMIN, two_factor: bool = True, **overrides):
        from app.auth.service import create_staff

        n = next(counter)
        user, password = create_staff(overrides.pop("username", f"staff{n}"), overrides.pop("display_name", f"Staff {n}"),
                                      role, password="correct horse battery", **overrides)
        if two_factor:
            enrol_authenticator(user)
        db.session.commit()
        return user, password

    return make


@pytest.fixture
def login(client, make_staff):
    """Sign in as a new staff member of the given role, password and code; returns the user."""

    def login(role: Role = Role.ADMIN, **overrides):
        user, password = make_staff(role, **overrides)
        page = client.get("/login")
        response = client.post("/login", data={"username": user.username, "password": password,
                                               "csrf_token": csrf_from(page.get_data(as_text=True))})
        response = complete_code_step(client, response, user)
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return login


@pytest.fixture
def api_key(app):
    """A fresh API key; returns the headers to send it."""
    from app.api.service import create_api_key

    _row, key = create_api_key("test-system", callback_prefixes=["http://127.0.0.1:"])
    db.session.commit()
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def days():
    """A time N days from now (negative for the past), timezone-aware."""
    return lambda n: utcnow() + timedelta(days=n)


@pytest.fixture
def count_statements(app):
    """The SQL statements sent while the test runs, in order (clear() it to start counting)."""
    counted = []

    def listener(conn, cursor, statement, *args):
        counted.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", listener)
    yield counted
    sa.event.remove(db.engine, "before_cursor_execute", listener)
