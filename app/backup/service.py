"""Making, checking and restoring backups of the database (7.5.2).

SQLite: the sqlite3 module's online backup API, which copies a consistent snapshot while the app
goes on serving (a file copy taken during a write is torn, and misses what is still in the WAL).
PostgreSQL: pg_dump and pg_restore, PostgreSQL's own tools for it; the dump runs in a snapshot the
app exports, so the figures the manifest records are those of the very data dumped.

Each backup is two files in the backup folder: the data (`.sqlite3` or pg_dump's `.dump`) and a
manifest (`.json`) with its SHA-256 and what it holds (rows per table, the audit chain's length and
last hash, the schema revision). Checking a backup restores it (SQLite: opens the copy; PostgreSQL:
into a scratch database), recomputes its audit chain and compares the figures with the manifest:
a backup is only known to be good once it has been restored.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator, Optional

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from app import sealing
from app.api.models import ApiKey
from app.audit.models import GENESIS_HASH, AuditChainHead
from app.audit.service import record, verify_chain
from app.auth.models import StaffUser
from app.db_types import utcnow
from app.extensions import db
from app.sqlite_writes import database_file

BACKUP_FORMAT = "huifang-backup/1"
EXTENSIONS = {"sqlite": ".sqlite3", "postgresql": ".dump"}
# The tables whose row counts a manifest records: the review record and who acted on it.
COUNTED_TABLES = ("clients", "invitations", "responses", "review_registrations", "review_exceptions",
                  "exception_followups", "archive_register", "letters", "letter_scans", "staff_users", "audit_log")
# A restore that would wait for the running app's locks gives up instead of hanging (PGOPTIONS).
RESTORE_LOCK_TIMEOUT = "10s"


class BackupError(Exception):
    """A backup that cannot be made, read, checked or restored; the message says why and what to do."""


class CheckFailed(BackupError):
    """A backup found damaged or not holding what its manifest says (audited, unlike a wrong file name)."""


class RestoredWithProblems(BackupError):
    """The restore went in, but what it put there differs from the manifest or has a broken chain."""


@dataclass(frozen=True)
class Contents:
    """What a database holds, as a manifest records it and a check compares it."""

    rows: dict[str, int]
    audit_entries: int
    audit_head: str
    audit_break: Optional[str] = None
    schema_revision: Optional[str] = None
    # Sealed secrets that none of this app's SECRET_KEYS opens: not compared (they depend on the
    # keys of the app that reads them), reported so a restore is told to bring back the old keys.
    unreadable_secrets: int = field(default=0, compare=False)

    def recorded(self) -> dict:
        """The manifest's part: everything but what depends on the reader's keys."""
        data = asdict(self)
        data.pop("unreadable_secrets")
        return data

    @classmethod
    def from_manifest(cls, data: dict) -> "Contents":
        """The contents a manifest recorded."""
        return cls(rows=dict(data["rows"]), audit_entries=int(data["audit_entries"]),
                   audit_head=str(data["audit_head"]), audit_break=data.get("audit_break"),
                   schema_revision=data.get("schema_revision"))

    def differences(self, other: "Contents") -> list[str]:
        """How other differs from self, in words (empty when they agree)."""
        found = []
        for table in sorted(set(self.rows) | set(other.rows)):
            if self.rows.get(table) != other.rows.get(table):
                found.append(f"{table}: {other.rows.get(table)} rows, the manifest says {self.rows.get(table)}")
        for name in ("audit_entries", "audit_head", "audit_break", "schema_revision"):
            if getattr(self, name) != getattr(other, name):
                found.append(f"{name}: {getattr(other, name)}, the manifest says {getattr(self, name)}")
        return found


@dataclass(frozen=True)
class Backup:
    """One backup: its data file and its manifest."""

    path: Path
    manifest: dict

    @property
    def name(self) -> str:
        """The backup's name: its data file's, without the extension."""
        return self.path.stem

    @property
    def backend(self) -> str:
        """"sqlite" or "postgresql"."""
        return self.manifest["backend"]

    @property
    def created_at(self) -> datetime:
        """When it was taken (UTC)."""
        return datetime.fromisoformat(self.manifest["created_at"])

    @property
    def contents(self) -> Contents:
        """What the manifest says it holds."""
        return Contents.from_manifest(self.manifest["contents"])


def backup_dir() -> Path:
    """Where backups go: BACKUP_DIR, else backups/ in the instance folder."""
    configured = current_app.config.get("BACKUP_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "backups"


# --- what a database holds ----------------------------------------------------------------------

def read_contents(session: Session) -> Contents:
    """Rows per counted table, the audit chain (recomputed) and the schema revision of session's database."""
    checked, broken = verify_chain(session)
    head = session.get(AuditChainHead, 1)
    inspector = sa.inspect(session.connection())  # one, so its cache serves every question below
    revision = None
    if inspector.has_table("alembic_version"):
        revision = session.scalar(sa.text("SELECT version_num FROM alembic_version"))
    return Contents(
        rows=_rows(session, inspector), audit_entries=checked,
        audit_head=head.last_hash if head else GENESIS_HASH,
        audit_break=broken.where if broken else None,
        schema_revision=revision, unreadable_secrets=_unreadable_secrets(session, inspector),
    )


def _unreadable_secrets(session: Session, inspector: sa.Inspector) -> int:
    """Sealed values in this database that none of the app's SECRET_KEYS opens."""
    if not all(_has_column(inspector, column) for column in
               (StaffUser.totp_secret_sealed, ApiKey.webhook_secret_sealed, ApiKey.webhook_secret_previous_sealed)):
        return 0  # a backup from before the secrets were sealed holds none
    sealed = [(value, sealing.STAFF_TOTP) for value in session.scalars(
        sa.select(StaffUser.totp_secret_sealed).where(StaffUser.totp_secret_sealed.is_not(None)))]
    for current, previous in session.execute(sa.select(ApiKey.webhook_secret_sealed,
                                                       ApiKey.webhook_secret_previous_sealed)):
        sealed += [(value, sealing.WEBHOOK) for value in (current, previous) if value]
    return sum(1 for value, purpose in sealed if sealing.unseal(value, purpose) is None)


def _has_column(inspector: sa.Inspector, column) -> bool:
    table = column.class_.__tablename__
    return inspector.has_table(table) and column.key in {c["name"] for c in inspector.get_columns(table)}


# --- making a backup ----------------------------------------------------------------------------

def create_backup(actor: str, directory: Optional[Path] = None) -> Backup:
    """Back the app's database up into directory (default: backup_dir()); audited. Flushes."""
    directory = Path(directory or backup_dir())
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return _create(actor, directory)
    except OSError as exc:
        raise BackupError(f"cannot write into {directory}: {exc.strerror or exc}") from None


def _create(actor: str, directory: Path) -> Backup:
    engine = db.engine
    backend = engine.dialect.name
    taken_at = utcnow()
    name = f"huifang-{taken_at:%Y%m%d-%H%M%S}Z-{secrets.token_hex(3)}"
    data = directory / (name + EXTENSIONS[backend])
    with _partial(data) as partial:
        contents = _dump_sqlite(engine, partial) if backend == "sqlite" else _dump_postgresql(engine, partial)
        digest, size = file_digest(partial)
        manifest = {
            "format": BACKUP_FORMAT, "file": data.name, "backend": backend,
            "created_at": taken_at.isoformat(), "bytes": size, "sha256": digest,
            "contents": contents.recorded(),
        }
        os.replace(partial, data)
    # The manifest last: a backup without one was cut short and is never taken for a whole one.
    with _partial(data.with_suffix(".json")) as partial:
        partial.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(partial, data.with_suffix(".json"))
    record(actor, "backup.created", "backup", name, details={
        "file": data.name, "bytes": size, "sha256": digest, "audit_entries": contents.audit_entries,
        "audit_break": contents.audit_break,
    })
    return Backup(data, manifest)


@contextmanager
def _partial(final: Path) -> Iterator[Path]:
    """A private (0600) file beside final to write into; removed if it was not moved into place."""
    partial = final.with_name(f".{final.name}.partial")
    os.close(os.open(partial, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600))
    try:
        yield partial
    finally:
        partial.unlink(missing_ok=True)


def file_digest(path: Path) -> tuple[str, int]:
    """The file's SHA-256 (hex) and size in bytes."""
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return digest, path.stat().st_size


def _sqlite_file(engine: sa.Engine) -> str:
    database = database_file(engine)
    if database is None:
        raise BackupError("the database is in memory: there is no file to back up")
    return database


def _dump_sqlite(engine: sa.Engine, target: Path) -> Contents:
    with closing(sqlite3.connect(_sqlite_file(engine), timeout=30)) as source, \
            closing(sqlite3.connect(target)) as copy:
        # One step: a single read transaction, so one consistent snapshot; in WAL mode the app's
        # writers go on meanwhile.
        source.backup(copy)
        # One self-contained file, with no -wal beside it to lose.
        copy.execute("PRAGMA journal_mode=DELETE")
    return contents_of_sqlite_file(target)


def contents_of_sqlite_file(path: Path) -> Contents:
    """Open an SQLite backup read-only, check its pages, and read what it holds."""
    engine = sa.create_engine("sqlite://", poolclass=NullPool,
                              creator=lambda: sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True))
    try:
        with Session(engine) as session:
            verdict = session.scalar(sa.text("PRAGMA integrity_check"))
            if verdict != "ok":
                raise CheckFailed(f"SQLite finds {path.name} damaged: {verdict}")
            return read_contents(session)
    except sa.exc.DatabaseError as exc:
        raise CheckFailed(f"{path.name} cannot be read as an SQLite database: {exc.orig}") from None
    finally:
        engine.dispose()


def _dump_postgresql(engine: sa.Engine, target: Path) -> Contents:
    pg_dump = _program("pg_dump")
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            # pg_dump reads in this transaction's snapshot, so the figures read here are the dump's.
            snapshot = connection.scalar(sa.text("SELECT pg_export_snapshot()"))
            with Session(bind=connection) as session:
                contents = read_contents(session)
            _run([pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={target}",
                  f"--dbname={_conninfo(engine.url)}"], engine.url)
    return contents


# --- checking and restoring ---------------------------------------------------------------------

def read_manifest(manifest_path: Path) -> Backup:
    """The backup a manifest describes, its data file not yet looked at; BackupError if it cannot be read."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format") != BACKUP_FORMAT or manifest.get("backend") not in EXTENSIONS:
            raise ValueError(f"format {manifest.get('format')!r} is not {BACKUP_FORMAT!r}")
        Contents.from_manifest(manifest["contents"])
        data = manifest_path.with_name(manifest["file"])
        datetime.fromisoformat(manifest["created_at"])
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, OSError) as exc:
        raise BackupError(f"the manifest {manifest_path.name} cannot be read: {exc}") from None
    return Backup(data, manifest)


def open_backup(path: Path) -> Backup:
    """A backup from its data file or its manifest, whole as the manifest's SHA-256 says; else BackupError."""
    path = Path(path)
    manifest_path = path if path.suffix == ".json" else path.with_suffix(".json")
    if not manifest_path.is_file():
        raise BackupError(f"{path.name} is not a Huifang backup: there is no manifest {manifest_path.name} beside it")
    backup = read_manifest(manifest_path)
    data, manifest = backup.path, backup.manifest
    if data.parent != manifest_path.parent or not data.is_file():
        raise BackupError(f"the backup's data file {manifest['file']} is missing beside {manifest_path.name}")
    digest, size = file_digest(data)
    if digest != manifest.get("sha256") or size != manifest.get("bytes"):
        raise CheckFailed(f"{data.name} is damaged: its SHA-256 is {digest[:16]}… ({size} bytes), "
                          f"the manifest recorded {str(manifest.get('sha256'))[:16]}… ({manifest.get('bytes')} bytes)")
    return backup


def check_backup(path: Path, actor: str, scratch_url: Optional[str] = None) -> tuple[Backup, Contents]:
    """Restore a backup where it harms nothing and compare it with its manifest; audited either way.

    Raises BackupError naming the first problem (CheckFailed, audited, when the file is a backup
    but not a good one). PostgreSQL backups are restored into scratch_url
    (an empty database) or, by default, a scratch database created beside the app's and dropped after.
    """
    try:
        backup = open_backup(path)
        if backup.backend == "sqlite":
            found = contents_of_sqlite_file(backup.path)
        else:
            found = _contents_of_postgresql_dump(backup.path, scratch_url)
        _check(backup, found)
    except CheckFailed as exc:
        record(actor, "backup.check_failed", "backup", Path(path).stem, details={"reason": str(exc)})
        raise
    record(actor, "backup.checked", "backup", backup.name, details={
        "file": backup.path.name, "sha256": backup.manifest["sha256"], "audit_entries": found.audit_entries})
    return backup, found


def _check(backup: Backup, found: Contents) -> None:
    differences = backup.contents.differences(found)
    if differences:
        raise CheckFailed(f"{backup.path.name} does not hold what its manifest says: " + "; ".join(differences))
    if found.audit_break:
        raise CheckFailed(f"{backup.path.name} holds what was backed up, but its audit chain was already broken "
                          f"when it was taken, at {found.audit_break}")


def _contents_of_postgresql_dump(path: Path, scratch_url: Optional[str]) -> Contents:
    _program("pg_restore")  # a missing program is the machine's problem, not a failed check
    if scratch_url:
        url = postgresql_url(scratch_url)
        _require_empty(url)
        return _restore_and_read(path, url)
    name = f"huifang_verify_{secrets.token_hex(6)}"
    admin = db.engine.execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.DBAPIError as exc:
        raise BackupError(f"cannot create a scratch database to restore the backup into ({exc.orig}); "
                          f"give --into the URL of an empty database") from None
    try:
        return _restore_and_read(path, db.engine.url.set(database=name))
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postgresql_url(text: str) -> URL:
    """A PostgreSQL URL as the app's engines take it (psycopg 3); BackupError if it is not one."""
    try:
        url = make_url(text)
    except sa.exc.ArgumentError:
        raise BackupError("--into: not a database URL (postgresql://user@host:port/name)") from None
    if url.get_backend_name() != "postgresql" or not url.database:
        raise BackupError("--into: not the URL of a PostgreSQL database (postgresql://user@host:port/name)")
    return url.set(drivername="postgresql+psycopg")


def _require_empty(url: URL) -> None:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            tables = sa.inspect(connection).get_table_names()
    except sa.exc.DBAPIError as exc:
        raise BackupError(f"--into: cannot connect ({exc.orig})") from None
    finally:
        engine.dispose()
    if tables:
        raise BackupError(f"--into names a database that is not empty ({len(tables)} tables): "
                          f"a check restores into an empty one")


def _restore_and_read(path: Path, url: URL) -> Contents:
    try:
        _pg_restore(path, url)
    except BackupError as exc:  # a backup that does not restore is a failed check, audited
        raise CheckFailed(f"{path.name} does not restore: {exc}") from None
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with Session(engine) as session:
            return read_contents(session)
    finally:
        engine.dispose()


def _pg_restore(path: Path, url: URL, *extra: str) -> None:
    # One transaction: a restore that fails part-way leaves the database as it was.
    _run([_program("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
          *extra, f"--dbname={_conninfo(url)}", str(path)], url)


def restore_backup(path: Path, actor: str, *, replace: bool = False) -> tuple[Backup, Contents]:
    """Restore a backup into the app's database, then audit it there. Commits.

    Refuses (BackupError, nothing changed) a damaged backup, one of the other backend, and, unless
    replace, a database that already holds review data.
    """
    backup = open_backup(path)
    engine = db.engine
    if backup.backend != engine.dialect.name:
        raise BackupError(f"{backup.path.name} is a backup of a {backup.backend} database; "
                          f"this app's database is {engine.dialect.name}")
    if backup.backend == "sqlite":
        contents_of_sqlite_file(backup.path)  # its pages are sound before anything is overwritten
    held = {table: count for table, count in _rows(db.session).items() if count}
    if held and not replace:
        raise BackupError("the database already holds data ("
                          + ", ".join(f"{table}: {count} rows" for table, count in held.items())
                          + "); add --replace to overwrite it with the backup")
    db.session.remove()
    engine.dispose()  # the copy replaces the pages under every open connection
    if backup.backend == "sqlite":
        _restore_sqlite(backup.path, _sqlite_file(engine))
    else:
        _pg_restore(backup.path, engine.url, "--clean", "--if-exists")
    found = read_contents(db.session)
    try:
        _check(backup, found)
    except BackupError as exc:
        raise RestoredWithProblems(f"restored, but {exc}") from None
    record(actor, "backup.restored", "backup", backup.name, details={
        "file": backup.path.name, "sha256": backup.manifest["sha256"], "taken_at": backup.manifest["created_at"],
        "replaced": bool(held), "audit_entries": found.audit_entries})
    db.session.commit()
    return backup, found


def _rows(session: Session, inspector: Optional[sa.Inspector] = None) -> dict[str, int]:
    """Rows in each counted table that the database has."""
    inspector = inspector or sa.inspect(session.connection())
    return {table: session.scalar(sa.select(sa.func.count()).select_from(sa.table(table)))
            for table in COUNTED_TABLES if inspector.has_table(table)}


def _restore_sqlite(source: Path, target: str) -> None:
    with closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)) as backup, \
            closing(sqlite3.connect(target, timeout=30)) as database:
        backup.backup(database)
        database.execute("PRAGMA journal_mode=WAL")


# --- the backup folder --------------------------------------------------------------------------

def list_backups(directory: Optional[Path] = None) -> list[Backup]:
    """The backups in directory whose manifests can be read, newest first (their data is not hashed here)."""
    directory = Path(directory or backup_dir())
    found = []
    for manifest_path in directory.glob("huifang-*.json"):
        try:
            found.append(read_manifest(manifest_path))
        except BackupError:
            continue
    return sorted(found, key=lambda backup: backup.created_at, reverse=True)


def prune_backups(actor: str, keep: int, directory: Optional[Path] = None) -> list[str]:
    """Delete all but the newest `keep` backups in directory; audited; returns the names deleted."""
    pruned = []
    for backup in list_backups(directory)[keep:]:
        backup.path.unlink(missing_ok=True)
        backup.path.with_suffix(".json").unlink(missing_ok=True)
        pruned.append(backup.name)
    if pruned:
        record(actor, "backup.pruned", "backup", None, details={"deleted": pruned, "kept": keep})
    return pruned


# --- PostgreSQL's client programs ---------------------------------------------------------------

def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} was not found: install PostgreSQL's client programs, of the server's "
                          f"version or newer (Debian: apt-get install postgresql-client)")
    return found


def _conninfo(url: URL) -> str:
    """libpq's connection string for url, without the password (a command line is visible to `ps`)."""
    from psycopg.conninfo import make_conninfo

    params = {"host": url.host, "port": url.port, "dbname": url.database, "user": url.username}
    params.update({key: value for key, value in url.query.items() if isinstance(value, str)})
    return make_conninfo(**{key: str(value) for key, value in params.items() if value})


def _run(command: list[str], url: URL) -> None:
    env = {**os.environ, "PGOPTIONS": f"-c lock_timeout={RESTORE_LOCK_TIMEOUT}"}
    env.pop("PGPASSWORD", None)
    if url.password:
        env["PGPASSWORD"] = str(url.password)  # libpq reads it from here, never from the command line
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        said = " ".join(result.stderr.strip().splitlines()[-3:]) or f"exit code {result.returncode}"
        raise BackupError(f"{Path(command[0]).name} failed: {said}")
