"""`flask backup`: make, check, list and restore backups of the database (7.5.2)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click
from flask import Flask
from flask.cli import AppGroup

from app.cli_params import COUNT, fail
from app.extensions import db

backup_cli = AppGroup("backup", help="Backups of the review data, checked by restoring them (7.5.2).")

FOLDER = click.Path(file_okay=False, path_type=Path)
BACKUP_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _size(size: int) -> str:
    return f"{size / 1_048_576:.1f} MiB" if size >= 1_048_576 else f"{size / 1024:.1f} KiB"


def _describe(contents) -> str:
    rows = contents.rows
    return (f"{contents.audit_entries} audit entries, {rows.get('responses', 0)} responses, "
            f"{rows.get('clients', 0)} clients, schema {contents.schema_revision or 'unknown'}")


def _keys_warning(contents) -> None:
    if contents.unreadable_secrets:
        click.echo(f"warning: {contents.unreadable_secrets} sealed secret(s) in it open with none of SECRET_KEYS: "
                   f"bring back the SECRET_KEYS of the time of the backup before staff sign in", err=True)


@backup_cli.command("create")
@click.option("--to", "directory", type=FOLDER, help="Folder to write into (default: BACKUP_DIR, else instance/backups).")
@click.option("--check", is_flag=True, help="Then check it by restoring it (PostgreSQL: into a scratch database).")
@click.option("--keep", type=COUNT, help="Then, if all went well, delete all but the newest KEEP backups in that folder.")
def create_command(directory: Optional[Path], check: bool, keep: Optional[int]) -> None:
    """Back the database up: a consistent copy taken while the app serves, with its manifest."""
    from app.backup.service import BackupError, create_backup, prune_backups

    try:
        backup = create_backup("cli", directory)
    except BackupError as exc:
        fail(f"no backup made: {exc}")
    db.session.commit()
    contents = backup.contents
    click.echo(f"backup written: {backup.path} ({_size(backup.manifest['bytes'])}, "
               f"sha256 {backup.manifest['sha256'][:16]}…): {_describe(contents)}")
    # Older backups are deleted only after this one is known good: a failure below keeps them all.
    if contents.audit_break:
        fail(f"the database's audit chain is broken at {contents.audit_break}; the backup holds it as it is "
             f"(flask audit verify); no older backup deleted")
    if check:
        _check(backup.path, None, failed_too="; no older backup deleted")
    if keep:
        for name in prune_backups("cli", keep, backup.path.parent):
            click.echo(f"deleted the older backup {name}")
        db.session.commit()


@backup_cli.command("check")
@click.argument("backup_file", type=BACKUP_FILE)
@click.option("--into", "scratch_url", help="PostgreSQL: an empty database to restore into "
                                            "(default: a scratch database beside the app's, dropped after).")
def check_command(backup_file: Path, scratch_url: Optional[str]) -> None:
    """Check BACKUP_FILE: its SHA-256, a restore, its audit chain, and what it holds against its manifest."""
    _check(backup_file, scratch_url)


def _check(path: Path, scratch_url: Optional[str], failed_too: str = "") -> None:
    from app.backup.service import BackupError, check_backup

    try:
        backup, found = check_backup(path, "cli", scratch_url)
    except BackupError as exc:
        db.session.commit()  # the failed check is audited
        fail(f"backup check failed: {exc}{failed_too}")
    db.session.commit()
    click.echo(f"backup checked, restored and whole: {backup.path.name}: {_describe(found)}")
    _keys_warning(found)


@backup_cli.command("list")
@click.option("--in", "directory", type=FOLDER, help="Folder to list (default: BACKUP_DIR, else instance/backups).")
def list_command(directory: Optional[Path]) -> None:
    """List the backups in the folder, newest first (run check to know one is good)."""
    from app.backup.service import backup_dir, list_backups

    backups = list_backups(directory)
    if not backups:
        click.echo(f"no backups in {directory or backup_dir()}")
    for backup in backups:
        click.echo(f"{backup.created_at:%Y-%m-%d %H:%M:%S} UTC  {backup.path.name:48} {backup.backend:10} "
                   f"{_size(backup.manifest.get('bytes', 0)):>10}  {backup.contents.audit_entries} audit entries")


@backup_cli.command("restore")
@click.argument("backup_file", type=BACKUP_FILE)
@click.option("--replace", is_flag=True, help="Overwrite a database that already holds data.")
@click.option("--yes", is_flag=True, help="Do not ask before overwriting.")
def restore_command(backup_file: Path, replace: bool, yes: bool) -> None:
    """Restore BACKUP_FILE into the app's database (stop the server and the workers first)."""
    from app.backup.service import BackupError, RestoredWithProblems, restore_backup

    if replace and not yes:
        click.confirm("This overwrites everything in the app's database with the backup. Go on?", abort=True)
    try:
        backup, found = restore_backup(backup_file, "cli", replace=replace)
    except RestoredWithProblems as exc:
        fail(str(exc))
    except BackupError as exc:
        fail(f"nothing restored: {exc}")
    click.echo(f"restored {backup.path.name}, taken {backup.created_at:%Y-%m-%d %H:%M:%S} UTC: {_describe(found)}")
    _keys_warning(found)


def register(app: Flask) -> None:
    """Attach this area's command group to the app."""
    app.cli.add_command(backup_cli)
