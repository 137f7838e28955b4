"""The Alembic migrations build exactly the schema the models describe, with the audit guards."""
from __future__ import annotations

import secrets
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app import create_app
from app.extensions import db
from tests.dbsetup import BACKEND, POSTGRES_ADMIN_URL


@pytest.fixture
def empty_database_url(tmp_path):
    """A database of its own, empty, for migrating from scratch."""
    if BACKEND != "postgresql":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    name = f"huifang_migrate_{secrets.token_hex(4)}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def app_on(database_url: str, secret_keys=("t",)):
    """An app on the test's own database, inside its context; its connections closed at the end,
    so that the database can be dropped."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEYS": list(secret_keys)})
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def migrated_app(empty_database_url):
    from flask_migrate import upgrade

    with app_on(empty_database_url) as app:
        upgrade()
        yield app


def test_migrations_match_the_models(migrated_app):
    from app.schema import import_all_models

    import_all_models()
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, db.metadata)
    assert diffs == []


def test_migrated_audit_log_refuses_updates(migrated_app):
    from app.audit.service import record

    record("test", "thing.change", "thing", 1)
    db.session.commit()
    with pytest.raises(sa.exc.DatabaseError):
        db.session.execute(sa.text("UPDATE audit_log SET actor = 'x'"))
        db.session.commit()
    db.session.rollback()


def test_upgrading_gives_existing_staff_their_own_session_tokens(empty_database_url):
    """Accounts made before the lifecycle columns get a random token each, no lock and no forced change."""
    from flask_migrate import upgrade

    with app_on(empty_database_url):
        upgrade(revision="40316845617e")
        for name in ("a", "b"):
            db.session.execute(sa.text(
                "INSERT INTO staff_users (username, display_name, password_hash, role, active, created_at) "
                "VALUES (:name, :name, 'x', 'admin', :yes, CURRENT_TIMESTAMP)"), {"name": name, "yes": True})
        db.session.commit()
        upgrade()
        rows = db.session.execute(sa.text(
            "SELECT session_token, failed_sign_ins, must_change_password FROM staff_users")).all()
    tokens = {row[0] for row in rows}
    assert len(tokens) == 2 and all(len(token) == 32 for token in tokens)
    assert {(row[1], bool(row[2])) for row in rows} == {(0, False)}


def test_two_step_sign_in_comes_unset_for_existing_staff_and_goes_back_down(empty_database_url):
    """Accounts from before two-step sign-in have no authenticator (they set one up at their next
    console page); the downgrade drops the columns and keeps the accounts."""
    from flask_migrate import downgrade, upgrade

    with app_on(empty_database_url):
        upgrade(revision="7c1d2e9a4b30")
        db.session.execute(sa.text(
            "INSERT INTO staff_users (username, display_name, password_hash, role, active, created_at, session_token,"
            " failed_sign_ins, must_change_password) VALUES ('a', 'a', 'x', 'admin', :yes, CURRENT_TIMESTAMP, 't', 0, :no)"),
            {"yes": True, "no": False})
        db.session.commit()
        upgrade(revision="9e4b6a1c2d57")
        upgraded = db.session.execute(sa.text(
            "SELECT username, totp_secret, totp_enabled_at, totp_last_step FROM staff_users")).all()
        db.session.commit()
        downgrade(revision="7c1d2e9a4b30")
        columns = {column["name"] for column in sa.inspect(db.engine).get_columns("staff_users")}
        kept = db.session.execute(sa.text("SELECT username FROM staff_users")).scalars().all()
    assert [tuple(row) for row in upgraded] == [("a", None, None, None)]
    assert not {"totp_secret", "totp_enabled_at", "totp_last_step"} & columns and kept == ["a"]


def test_upgrading_seals_the_secrets_already_set_up_and_the_downgrade_opens_them(empty_database_url):
    """An authenticator set up before the secrets were sealed goes on working: its secret is sealed
    under the newest key; going back down gives the secret as it was."""
    from flask_migrate import downgrade, upgrade

    from app.auth import two_factor

    secret = two_factor.new_secret()
    with app_on(empty_database_url, ["older", "newest"]) as app:
        upgrade(revision="9e4b6a1c2d57")
        db.session.execute(sa.text(
            "INSERT INTO staff_users (username, display_name, password_hash, role, active, created_at, session_token,"
            " failed_sign_ins, must_change_password, totp_secret, totp_enabled_at) VALUES ('a', 'a', 'x', 'admin',"
            " :yes, CURRENT_TIMESTAMP, 't', 0, :no, :secret, CURRENT_TIMESTAMP)"),
            {"yes": True, "no": False, "secret": secret})
        db.session.commit()
        upgrade(revision="c5a8f3d1e207")
        sealed = db.session.execute(sa.text("SELECT totp_secret_sealed FROM staff_users")).scalar_one()
        opened = two_factor.unseal(sealed)
        app.config["SECRET_KEYS"] = ["newest"]
        opened_by_newest = two_factor.unseal(sealed)
        app.config["SECRET_KEYS"] = ["older", "newest"]
        db.session.commit()
        downgrade(revision="9e4b6a1c2d57")
        back = db.session.execute(sa.text("SELECT totp_secret, totp_enabled_at FROM staff_users")).one()
    assert secret not in sealed and opened == opened_by_newest == secret
    assert back[0] == secret and back[1] is not None


def test_upgrading_seals_the_webhook_secrets_and_the_downgrade_opens_them(empty_database_url):
    """Callbacks go on verifying at the business systems: each key's secrets are sealed as they were."""
    from flask_migrate import downgrade, upgrade

    from app.api.models import ApiKey
    from app.api.service import new_webhook_secret

    current, previous = new_webhook_secret(), new_webhook_secret()
    with app_on(empty_database_url, ["k"]):
        upgrade(revision="c5a8f3d1e207")
        db.session.execute(sa.text(
            "INSERT INTO api_keys (name, key_prefix, key_hash, created_at, callback_prefixes, frame_origins,"
            " webhook_secret, webhook_secret_previous) VALUES"
            " ('rotating', 'p1', 'h', CURRENT_TIMESTAMP, '[]', '[]', :current, :previous),"
            " ('plain', 'p2', 'h', CURRENT_TIMESTAMP, '[]', '[]', :current, NULL)"),
            {"current": current, "previous": previous})
        db.session.commit()
        upgrade(revision="d7e2b4c9f018")
        stored = db.session.execute(sa.text(
            "SELECT name, webhook_secret_sealed, webhook_secret_previous_sealed FROM api_keys ORDER BY name")).all()
        opened = {row.name: (row.webhook_secret, row.webhook_secret_previous)
                  for row in db.session.scalars(sa.select(ApiKey))}
        db.session.commit()
        downgrade(revision="c5a8f3d1e207")
        back = db.session.execute(sa.text(
            "SELECT name, webhook_secret, webhook_secret_previous FROM api_keys ORDER BY name")).all()
    assert not any(current in str(value) or previous in str(value) for row in stored for value in row)
    assert opened == {"rotating": (current, previous), "plain": (current, None)}
    assert [tuple(row) for row in back] == [("plain", current, None), ("rotating", current, previous)]
