"""Backups (7.5.2): made while the app serves, checked by restoring them, restored whole or not at all."""
from __future__ import annotations

import json
import sqlite3
import stat
import threading
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app.audit.models import AuditEntry
from app.audit.service import record, verify_chain
from app.backup import service
from app.clients.models import Client
from app.extensions import db
from app.reviews.models import Response
from tests.dbsetup import POSTGRES_ADMIN_URL, postgresql_only, sqlite_only

ANSWERS = {"consent": "y", "own_operation": "yes", "age": "12", "satisfaction": "4"}


@pytest.fixture
def folder(app):
    """The backup folder the test's app writes to (the app fixture's, never the repository's instance/)."""
    return Path(app.config["BACKUP_DIR"])


@pytest.fixture
def flask_cli(app, folder):
    """Run a `flask` command line; returns click's result (its output holds stderr too)."""
    runner = app.test_cli_runner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(args=list(args), input=input)

    return run


@pytest.fixture
def reviewed(make_invitation):
    """Complete n reviews (invitation, response, registration, archive row); returns the responses."""
    from app.reviews.service import submit_response

    def make(n: int = 1) -> list[Response]:
        done = []
        for _ in range(n):
            response, _created = submit_response(make_invitation(), ANSWERS, "zh-CN")
            db.session.commit()
            done.append(response)
        return done

    return make


def backup_files(folder):
    """The data files of the backups in folder."""
    return sorted(p for p in folder.iterdir() if p.suffix in (".sqlite3", ".dump"))


def rows(table) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(table))


def rewrite_manifest(backup_path, change) -> None:
    manifest_path = backup_path.with_suffix(".json")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    change(manifest)
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")


# --- making one ---------------------------------------------------------------------------------

def test_create_writes_a_private_copy_and_a_manifest_of_what_it_holds(flask_cli, folder, reviewed):
    reviewed(2)
    result = flask_cli("backup", "create")
    assert result.exit_code == 0, result.output
    [data] = backup_files(folder)
    manifest = json.loads(data.with_suffix(".json").read_text(encoding="utf-8"))
    assert manifest["contents"]["rows"]["responses"] == 2
    assert manifest["contents"]["rows"]["archive_register"] == 2
    assert manifest["contents"]["audit_entries"] == verify_chain()[0] - 1  # all but its own entry
    assert manifest["sha256"] == service.file_digest(data)[0]
    # Client data: readable by the owner only, in a folder only the owner can enter.
    for path in (data, data.with_suffix(".json")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not list(folder.glob(".*partial"))


def test_create_is_audited_with_the_files_hash(flask_cli, folder):
    flask_cli("backup", "create")
    [data] = backup_files(folder)
    entry = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert (entry.actor, entry.action, entry.object_id) == ("cli", "backup.created", data.stem)
    assert entry.details["sha256"] == service.file_digest(data)[0]


def test_keep_deletes_all_but_the_newest_backups(flask_cli, folder):
    for _ in range(3):
        assert flask_cli("backup", "create", "--keep", "2").exit_code == 0
    names = [b.name for b in service.list_backups(folder)]
    assert len(names) == 2 and len(backup_files(folder)) == 2
    listed = flask_cli("backup", "list").output.splitlines()
    assert [line.split()[3] for line in listed] == [f"{name}{backup_files(folder)[0].suffix}" for name in names]


def test_list_leaves_out_a_manifest_it_cannot_read(flask_cli, folder):
    flask_cli("backup", "create")
    flask_cli("backup", "create")
    first, second = backup_files(folder)
    rewrite_manifest(first, lambda m: m.pop("contents"))
    result = flask_cli("backup", "list")
    assert result.exit_code == 0, result.output
    assert second.name in result.output and first.name not in result.output


def test_keep_deletes_nothing_when_the_new_backup_is_not_good(flask_cli, folder, drop_guards):
    for _ in range(2):
        flask_cli("backup", "create", "--keep", "2")
    drop_guards()
    db.session.execute(sa.text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1"))
    db.session.commit()
    result = flask_cli("backup", "create", "--check", "--keep", "2")
    assert result.exit_code == 1 and "no older backup deleted" in result.output
    assert len(service.list_backups(folder)) == 3


def test_pruning_is_audited_with_the_names_deleted(flask_cli, folder):
    flask_cli("backup", "create")
    [first] = backup_files(folder)
    flask_cli("backup", "create", "--keep", "1")
    entry = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert (entry.action, entry.details) == ("backup.pruned", {"deleted": [first.stem], "kept": 1})
    assert not first.exists()


def test_a_backup_taken_while_clients_are_written_holds_one_moment(app, flask_cli, folder, make_client):
    """The manifest's figures and the copy agree although writes go on (PostgreSQL: the exported snapshot)."""
    stop, written = threading.Event(), threading.Event()

    def write() -> None:
        with app.app_context():
            n = 0
            while not stop.is_set():
                n += 1
                make_client(account=f"W{n:07d}")  # commits
                if n == 20:
                    written.set()
            db.session.remove()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert written.wait(30)
        result = flask_cli("backup", "create", "--check")
    finally:
        stop.set()
        writer.join()
    assert result.exit_code == 0, result.output
    [backup] = service.list_backups(folder)
    assert backup.contents.rows["clients"] >= 20


@sqlite_only("PostgreSQL's backups are written by pg_dump; an in-memory database is SQLite's")
def test_an_in_memory_database_is_refused_with_a_reason(app_with, folder):
    other = app_with(SQLALCHEMY_DATABASE_URI="sqlite://", BACKUP_DIR=str(folder))
    with other.app_context():  # the command runs in the app whose context is current
        result = other.test_cli_runner().invoke(args=["backup", "create"])
    assert result.exit_code == 1
    assert "no backup made: the database is in memory" in result.output


@postgresql_only("pg_dump is PostgreSQL's")
def test_a_missing_pg_dump_is_named_with_the_package_to_install(flask_cli, folder, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    result = flask_cli("backup", "create")
    assert result.exit_code == 1
    assert "pg_dump was not found" in result.output and "postgresql-client" in result.output
    assert not folder.exists() or not list(folder.iterdir())


def test_the_password_is_given_to_libpq_by_the_environment_not_the_command_line():
    url = make_url("postgresql+psycopg://huifang:pa%20ss@db.example.com:6432/reviews?sslmode=require")
    conninfo = service._conninfo(url)
    assert "pa ss" not in conninfo and "password" not in conninfo
    for part in ("host=db.example.com", "port=6432", "dbname=reviews", "user=huifang", "sslmode=require"):
        assert part in conninfo


# --- checking one -------------------------------------------------------------------------------

def test_check_restores_the_backup_and_finds_it_whole(flask_cli, folder, reviewed):
    reviewed(1)
    flask_cli("backup", "create")
    [data] = backup_files(folder)
    result = flask_cli("backup", "check", str(data))
    assert result.exit_code == 0, result.output
    assert "restored and whole" in result.output and "1 responses" in result.output
    last = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert (last.action, last.object_id) == ("backup.checked", data.stem)


@postgresql_only("the scratch database is PostgreSQL's")
def test_check_drops_its_scratch_database(flask_cli, folder):
    flask_cli("backup", "create")
    [data] = backup_files(folder)
    assert flask_cli("backup", "check", str(data)).exit_code == 0
    admin = sa.create_engine(POSTGRES_ADMIN_URL)
    with admin.connect() as connection:
        left = connection.scalar(sa.text("SELECT count(*) FROM pg_database WHERE datname LIKE 'huifang_verify_%'"))
    admin.dispose()
    assert left == 0


def test_check_finds_a_damaged_file_and_audits_the_failure(flask_cli, folder):
    flask_cli("backup", "create")
    [data] = backup_files(folder)
    with data.open("r+b") as handle:
        handle.seek(data.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
    result = flask_cli("backup", "check", str(data))
    assert result.exit_code == 1
    assert f"backup check failed: {data.name} is damaged: its SHA-256 is" in result.output
    last = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert last.action == "backup.check_failed" and "damaged" in last.details["reason"]


@postgresql_only("a dump that pg_restore refuses")
def test_check_finds_a_dump_that_does_not_restore(flask_cli, folder, reviewed):
    reviewed(3)
    flask_cli("backup", "create")
    [data] = backup_files(folder)
    body = bytearray(data.read_bytes())
    body[len(body) // 2: len(body) // 2 + 64] = bytes(64)  # the compressed table data, zeroed
    data.write_bytes(bytes(body))
    rewrite_manifest(data, lambda m: m.update(zip(("sha256", "bytes"), service.file_digest(data))))
    result = flask_cli("backup", "check", str(data))
    assert result.exit_code == 1
    assert f"{data.name} does not restore: pg_restore failed:" in result.output
    last = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert last.action == "backup.check_failed"


def test_check_refuses_a_file_that_is_not_a_backup(flask_cli, tmp_path):
    stray = tmp_path / "notes.sqlite3"
    stray.write_bytes(b"not a database")
    result = flask_cli("backup", "check", str(stray))
    assert result.exit_code == 1
    assert "notes.sqlite3 is not a Huifang backup: there is no manifest notes.json beside it" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("change", "said"), [
    (lambda m: m["contents"]["rows"].update(responses=m["contents"]["rows"]["responses"] + 1),
     "does not hold what its manifest says: responses: 1 rows, the manifest says 2"),
    (lambda m: m["contents"].update(audit_head="0" * 64), "audit_head:"),
    (lambda m: m.update(format="something-else/9"), "cannot be read: format 'something-else/9'"),
    (lambda m: m.update(file="../elsewhere.sqlite3"), "cannot be read"),
])
def test_check_compares_the_restored_copy_with_the_manifest(flask_cli, folder, reviewed, change, said):
    reviewed(1)
    flask_cli("backup", "create")
    [data] = backup_files(folder)
    rewrite_manifest(data, change)
    result = flask_cli("backup", "check", str(data))
    assert result.exit_code == 1
    assert said in result.output


@sqlite_only("edits the copy in place, which a pg_dump archive does not allow")
def test_check_finds_an_audit_entry_changed_inside_the_copy(flask_cli, folder):
    for n in range(3):
        record("test", "thing.change", "thing", n)
    db.session.commit()
    flask_cli("backup", "create")
    [data] = backup_files(folder)
    with closing(sqlite3.connect(data)) as copy:  # someone with the file, rewriting history and the manifest
        copy.execute("DROP TRIGGER audit_log_no_update")
        copy.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
        copy.commit()
    rewrite_manifest(data, lambda m: m.update(zip(("sha256", "bytes"), service.file_digest(data))))
    result = flask_cli("backup", "check", str(data))
    assert result.exit_code == 1
    assert "audit_break: entry seq=2: content does not match its hash, the manifest says None" in result.output


def test_a_broken_chain_is_backed_up_as_it_is_and_said(flask_cli, folder, drop_guards):
    for n in range(3):
        record("test", "thing.change", "thing", n)
    db.session.commit()
    drop_guards()
    db.session.execute(sa.text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
    db.session.commit()
    made = flask_cli("backup", "create")
    assert made.exit_code == 1 and "audit chain is broken at entry seq=2" in made.output
    [data] = backup_files(folder)  # the backup is still made: it is needed most then
    checked = flask_cli("backup", "check", str(data))
    assert checked.exit_code == 1 and "already broken when it was taken, at entry seq=2" in checked.output


def test_check_warns_when_no_key_opens_the_sealed_secrets(app_with, flask_cli, folder, make_staff):
    make_staff()  # with an authenticator, its key sealed under the test app's SECRET_KEYS
    flask_cli("backup", "create")
    [data] = backup_files(folder)
    other = app_with(SECRET_KEYS=["a-key-the-backup-never-knew"])
    with other.app_context():
        result = other.test_cli_runner().invoke(args=["backup", "check", str(data)])
    assert result.exit_code == 0, result.output
    assert "1 sealed secret(s) in it open with none of SECRET_KEYS" in result.output


@postgresql_only("--into names a PostgreSQL database")
@pytest.mark.parametrize(("into", "said"), [
    ("not a url", "--into: not a database URL"),
    ("sqlite:///x.db", "--into: not the URL of a PostgreSQL database"),
])
def test_check_into_refuses_what_is_not_an_empty_postgresql_database(flask_cli, folder, into, said):
    flask_cli("backup", "create")
    [data] = backup_files(folder)
    result = flask_cli("backup", "check", str(data), "--into", into)
    assert result.exit_code == 1 and said in result.output


@postgresql_only("--into names a PostgreSQL database")
def test_check_into_refuses_a_database_that_holds_tables(app, flask_cli, folder):
    flask_cli("backup", "create")
    [data] = backup_files(folder)
    result = flask_cli("backup", "check", str(data), "--into", app.config["SQLALCHEMY_DATABASE_URI"])
    assert result.exit_code == 1 and "--into names a database that is not empty" in result.output


# --- restoring one ------------------------------------------------------------------------------

def test_restore_brings_back_the_reviews_as_they_were(flask_cli, folder, reviewed, make_client):
    [response] = reviewed(1)
    receipt = response.receipt_no
    flask_cli("backup", "create")
    [data] = backup_files(folder)
    reviewed(2)  # after the backup: lost with the restore
    make_client(account="LATER001")
    result = flask_cli("backup", "restore", str(data), "--replace", "--yes")
    assert result.exit_code == 0, result.output
    assert db.session.scalars(sa.select(Response.receipt_no)).all() == [receipt]
    assert db.session.scalar(sa.select(Client).where(Client.account == "LATER001")) is None
    checked, broken = verify_chain()
    assert broken is None
    last = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert (last.seq, last.action, last.object_id) == (checked, "backup.restored", data.stem)


def test_restore_refuses_a_database_with_data_unless_told_to_replace_it(flask_cli, folder, reviewed):
    flask_cli("backup", "create")
    [data] = backup_files(folder)
    reviewed(1)
    before = rows(AuditEntry)
    result = flask_cli("backup", "restore", str(data))
    assert result.exit_code == 1
    assert "nothing restored: the database already holds data (" in result.output and "--replace" in result.output
    assert rows(Response) == 1 and rows(AuditEntry) == before


def test_restore_asks_before_replacing(flask_cli, folder, reviewed):
    flask_cli("backup", "create")
    [data] = backup_files(folder)
    reviewed(1)
    result = flask_cli("backup", "restore", str(data), "--replace", input="n\n")
    assert result.exit_code == 1 and "Go on?" in result.output
    assert rows(Response) == 1


@pytest.mark.parametrize(("damage", "said"), [
    (lambda data: data.write_bytes(data.read_bytes()[:-100]), "is damaged"),
    (lambda data: rewrite_manifest(data, lambda m: m.update(backend={"sqlite": "postgresql"}.get(m["backend"], "sqlite"))),
     "is a backup of a"),
])
def test_restore_refuses_a_damaged_or_foreign_backup_and_changes_nothing(flask_cli, folder, reviewed, damage, said):
    flask_cli("backup", "create")
    [data] = backup_files(folder)
    reviewed(1)
    before = rows(AuditEntry)
    damage(data)
    result = flask_cli("backup", "restore", str(data), "--replace", "--yes")
    assert result.exit_code == 1
    assert "nothing restored: " in result.output and said in result.output
    assert rows(Response) == 1 and rows(AuditEntry) == before
