"""Routes of the status area: the console's status page (admins, auditors) and /healthz (load balancers)."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from app.auth.decorators import roles_required
from app.auth.models import Role
from app.backup.service import backup_dir, list_backups
from app.console.nav import nav_item
from app.status.alerts import alert_setting  # the module also registers the worker's alert check
from app.status.service import database_answers, system_status

bp = Blueprint("status", __name__, template_folder="templates")
# Administrators run the system; auditors check that the 7.5.2 measures are kept (admins hold every role).
VIEWERS = (Role.AUDITOR,)
nav_item("System status", "status.index", VIEWERS, order=92)
FOLDER_ROWS = 10


@bp.get("/console/status")
@roles_required(*VIEWERS)
def index():
    """Backups proved by a check, the audit chain, the background worker, and what needs doing."""
    folder = backup_dir()
    # The backups may be made on another machine (the database server's): then the audit log alone
    # tells, and this server's folder is not there.
    return render_template("status/index.html", status=system_status(), folder_path=folder,
                           folder_found=folder.is_dir(), folder=list_backups(folder)[:FOLDER_ROWS],
                           alerts=alert_setting())


@bp.get("/healthz")
def healthz():
    """200 while the app and its database answer, else 503; says nothing else (it needs no sign-in)."""
    if database_answers():
        return jsonify(status="ok")
    return jsonify(status="unavailable"), 503
