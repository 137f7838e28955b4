"""`flask` commands: thin wrappers over the services; their docstrings are the help text."""
from __future__ import annotations

import json

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup

from app.auth.models import Role
from app.cli_params import ROW_ID, TEXT_FILE, TextFile, fail
from app.extensions import db

questionnaires_cli = AppGroup("questionnaires", help="Publish, list and retire questionnaire versions.")
clients_cli = AppGroup("clients", help="Import clients.")
api_keys_cli = AppGroup("api-keys", help="Create and revoke API keys of business systems.")
users_cli = AppGroup("users", help="Staff accounts.")
audit_cli = AppGroup("audit", help="The tamper-evident audit log.")
secrets_cli = AppGroup("secrets", help="Secrets kept sealed under SECRET_KEYS.")


@questionnaires_cli.command("publish")
@click.argument("files", nargs=-1, required=True, type=TEXT_FILE)
def publish_command(files: tuple[TextFile, ...]) -> None:
    """Publish definition FILES (YAML or JSON) as immutable versions."""
    from app.definitions.service import publish_text
    from questionnaires.loader import DefinitionError

    for source in files:
        try:
            version, created = publish_text(source.text, "cli", filename=source.path.name)
        except DefinitionError as exc:
            fail(f"{source.path}:\n" + "\n".join(f"  {issue}" for issue in exc.issues))
        db.session.commit()
        state = "published" if created else "unchanged"
        click.echo(f"{state}: {version.questionnaire.key} v{version.number} {version.content_hash}")


@questionnaires_cli.command("load-builtin")
def load_builtin_command() -> None:
    """Publish the built-in definitions (Appendices A and E of the standard)."""
    from app.definitions.service import publish_builtin

    for version, created in publish_builtin("cli"):
        click.echo(f"{'published' if created else 'unchanged'}: {version.questionnaire.key} v{version.number}")
    db.session.commit()


@questionnaires_cli.command("list")
def list_command() -> None:
    """List questionnaires with their latest version."""
    from app.definitions.service import list_questionnaires

    for row in list_questionnaires():
        q = row["questionnaire"]
        click.echo(f"{q.key:24} {q.review_type.value:18} v{row['latest_version']} ({row['version_count']} versions)")


@questionnaires_cli.command("retire")
@click.argument("key")
@click.argument("number", type=ROW_ID)
def retire_command(key: str, number: int) -> None:
    """Retire version NUMBER of questionnaire KEY."""
    from app.definitions.service import get_version, retire_version

    version = get_version(key, number)
    if version is None:
        fail(f"no version {number} of '{key}'")
    changed = retire_version(version, "cli")
    db.session.commit()
    click.echo(f"retired: {key} v{number}" if changed else f"already retired: {key} v{number}")


@clients_cli.command("import")
@click.argument("csv_file", type=TEXT_FILE)
def import_clients_command(csv_file: TextFile) -> None:
    """Import clients from a UTF-8 CSV file; any bad row means nothing is imported."""
    from app.clients.service import ClientImportError, import_csv

    try:
        result = import_csv(csv_file.text, "cli")
    except ClientImportError as exc:
        fail("nothing imported:\n" + "\n".join(f"  line {e.row}: {e.field}: {e.message}" for e in exc.errors))
    db.session.commit()
    click.echo(f"created {result['created']}, updated {result['updated']}")


@api_keys_cli.command("create")
@click.argument("name")
@click.option("--callback-prefix", "callback_prefixes", multiple=True, help="Allowed callback URL prefix (repeatable).")
@click.option("--frame-origin", "frame_origins", multiple=True, help="Origin allowed to frame the gate page (repeatable).")
def create_api_key_command(name: str, callback_prefixes: tuple[str, ...], frame_origins: tuple[str, ...]) -> None:
    """Create an API key NAME and print it once, as JSON."""
    from app.api.service import create_api_key
    from app.reviews.service import InvalidRequest

    try:
        row, key = create_api_key(name, "cli", list(callback_prefixes), list(frame_origins))
    except InvalidRequest as exc:
        fail(f"not created: {exc}")
    db.session.commit()
    click.echo(json.dumps({"name": row.name, "api_key": key, "webhook_secret": row.webhook_secret,
                           "callback_prefixes": row.callback_prefixes, "frame_origins": row.frame_origins}))


@api_keys_cli.command("rotate-secret")
@click.argument("name")
@click.option("--end", is_flag=True, help="End the rotation: stop signing with the previous secret.")
def rotate_secret_command(name: str, end: bool) -> None:
    """Rotate the webhook (whsec_) secret of the API key NAME; both secrets sign until --end."""
    from app.api.service import end_webhook_secret_rotation, rotate_webhook_secret

    row = end_webhook_secret_rotation(name, "cli") if end else rotate_webhook_secret(name, "cli")
    if row is None:
        fail(f"no active API key named '{name}'")
    db.session.commit()
    click.echo(json.dumps({"name": row.name, "webhook_secret": row.webhook_secret,
                           "previous_webhook_secret_still_signing": row.webhook_secret_previous_sealed is not None}))


@api_keys_cli.command("revoke")
@click.argument("name")
def revoke_api_key_command(name: str) -> None:
    """Revoke the API key NAME."""
    from app.api.service import revoke_api_key

    if not revoke_api_key(name, "cli"):
        fail(f"no active API key named '{name}'")
    db.session.commit()
    click.echo(f"revoked: {name}")


@users_cli.command("create")
@click.argument("username")
@click.option("--name", "display_name", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--staff-code", default=None, help="The code that links clients to the staff who serve them.")
def create_user_command(username: str, display_name: str, role: str, staff_code: str | None) -> None:
    """Create a staff account and print its generated password once."""
    from app.auth.service import create_staff
    from app.reviews.service import InvalidRequest

    try:
        user, password = create_staff(username, display_name, Role(role), staff_code=staff_code, actor="cli")
    except InvalidRequest as exc:
        fail(f"not created: {exc}")
    db.session.commit()
    click.echo(f"created {user.username} ({role}); one-time password: {password}  (to be changed at the first sign-in)")


@users_cli.command("ensure-admin")
def ensure_admin_command() -> None:
    """Create the first admin if there is none, printing its password once."""
    from app.auth.service import create_staff, find_admin

    if find_admin() is not None:
        click.echo("an admin account exists already")
        return
    _user, password = create_staff("admin", "Administrator", Role.ADMIN, actor="cli")
    db.session.commit()
    click.echo(f"first admin created — username: admin  password: {password}  "
               "(shown once; to be changed at the first sign-in)")


def _staff_or_fail(username: str):
    from app.auth.models import StaffUser

    user = db.session.scalars(sa.select(StaffUser).where(StaffUser.username == username)).one_or_none()
    if user is None:
        fail(f"no staff account is named '{username}'")
    return user


@users_cli.command("reset-password")
@click.argument("username")
def reset_password_command(username: str) -> None:
    """Give an account a one-time password (ending its sessions and any lock); print it once.

    The way back in when the only administrators are locked out or have forgotten their passwords.
    """
    from app.auth.service import reset_password

    password = reset_password(_staff_or_fail(username), actor="cli")
    db.session.commit()
    click.echo(f"{username}: one-time password: {password}  (to be changed at the next sign-in)")


@users_cli.command("reset-two-factor")
@click.argument("username")
def reset_two_factor_command(username: str) -> None:
    """Forget an account's authenticator app (a lost phone) and end its sessions.

    Its holder sets up an app again at the next sign-in: the way back in for an administrator
    whose phone is gone when no other administrator can reset it in the console.
    """
    from app.auth.service import reset_two_factor
    from app.reviews.service import InvalidRequest

    try:
        reset_two_factor(_staff_or_fail(username), actor="cli")
    except InvalidRequest as exc:
        fail(f"{username}: {exc.message}")
    db.session.commit()
    click.echo(f"{username}: two-step sign-in reset; an authenticator app is set up again at the next sign-in")


@users_cli.command("activate")
@click.argument("username")
def activate_command(username: str) -> None:
    """Reactivate a deactivated account (as an administrator can in the console)."""
    from app.auth.service import set_active

    set_active(_staff_or_fail(username), True, actor="cli")
    db.session.commit()
    click.echo(f"{username} is active")


@audit_cli.command("verify")
def verify_audit_command() -> None:
    """Recompute the audit hash chain; exit 1 naming the first broken entry. Audited, as in the console."""
    from app.audit.service import record_verification, walk_chain

    walk = walk_chain()
    record_verification("cli", walk)
    db.session.commit()
    broken, accepted = walk.broken, _accepted_words(walk.accepted)
    if broken is not None:
        fail(f"audit chain broken at entry seq={broken.seq} (id={broken.entry_id}): {broken.reason}; "
             f"{walk.checked} entries before it are intact{accepted}; after investigating it: "
             f"flask audit accept-break {broken.seq} --fingerprint {broken.fingerprint} --incident REF --note TEXT")
    click.echo(f"audit chain intact: {walk.checked} entries{accepted}")


def _accepted_words(seqs) -> str:
    return f" (past the accepted breaks at seq {', '.join(map(str, seqs))})" if seqs else ""


@audit_cli.command("accept-break")
@click.argument("seq", type=ROW_ID)
@click.option("--fingerprint", required=True, help="The break's fingerprint, as flask audit verify printed it.")
@click.option("--incident", required=True, help="The incident's reference in the firm's register.")
@click.option("--note", required=True, help="What the investigation found.")
def accept_break_command(seq: int, fingerprint: str, incident: str, note: str) -> None:
    """Accept the chain's first break after investigating it: walks go past exactly that break from then on."""
    from app.audit.service import accept_break, record_verification, walk_chain
    from app.reviews.service import InvalidRequest

    try:
        accept_break("cli", seq, fingerprint, incident, note)
    except InvalidRequest as exc:
        fail(f"{exc.field}: {exc.message}")
    db.session.commit()
    click.echo(f"break at entry seq={seq} accepted (incident {incident.strip()}); the chain is walked past it from now on")
    # Walked again at once, as the console does after an acceptance: the status page reads the newest walk.
    walk = walk_chain()
    record_verification("cli", walk)
    db.session.commit()
    if walk.broken is not None:
        fail(f"the chain has another break, at {walk.broken.where}: look at it too (flask audit verify)")
    click.echo(f"audit chain intact: {walk.checked} entries{_accepted_words(walk.accepted)}")


@secrets_cli.command("reseal")
def reseal_command() -> None:
    """Seal the staff authenticator keys and the webhook secrets anew under the newest of SECRET_KEYS.

    Run it after adding a new key at the end of SECRET_KEYS, before the old one leaves: what is
    sealed under a dropped key opens no more. Exits 1, after sealing the rest, naming what no key opens.
    """
    from app.api.service import reseal_webhook_secrets
    from app.auth.two_factor import reseal_all

    staff, lost_staff = reseal_all(actor="cli")
    webhooks, lost_keys = reseal_webhook_secrets(actor="cli")
    db.session.commit()
    click.echo(f"sealed anew under the newest key: {staff} authenticator key(s), {webhooks} webhook secret(s)")
    problems = []
    if lost_staff:
        problems.append("no key of SECRET_KEYS opens the authenticator keys of " + ", ".join(lost_staff)
                        + ": reset their two-step sign-in (flask users reset-two-factor NAME)")
    if lost_keys:
        problems.append("no key of SECRET_KEYS opens webhook secrets of the API keys " + ", ".join(lost_keys)
                        + ": rotate them (flask api-keys rotate-secret NAME) and give the business systems the new one")
    if problems:  # exit 1 after the commit (the others are sealed anew) so that a script notices
        fail("; ".join(problems))


def register_cli(app: Flask) -> None:
    """Attach the command groups to the app."""
    import importlib

    for group in (questionnaires_cli, clients_cli, api_keys_cli, users_cli, audit_cli, secrets_cli):
        app.cli.add_command(group)
    for area in ("jobs", "mandatory", "webhooks", "campaigns", "letters", "followup", "stats", "backup", "status"):
        importlib.import_module(f"app.{area}.cli").register(app)
