"""Routes of the audit area: the console's view of the audit log (7.5.1), for auditors."""
from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.audit.models import AuditEntry
from app.audit.service import accept_break, record_verification, walk_chain
from app.auth.decorators import actor_name, roles_required
from app.auth.models import Role
from app.console.nav import nav_item
from app.extensions import db
from app.params import optional_row_id
from app.reviews.service import InvalidRequest

bp = Blueprint("audit", __name__, url_prefix="/console/audit", template_folder="templates")
PAGE_SIZE = 100
nav_item("Audit log", "audit.log", (Role.AUDITOR,), order=90)


def _tz():
    from app.stats.population import local_tz

    return local_tz()


def _filters(args) -> tuple[list, dict, list[str]]:
    conds, values, errors = [], {}, []
    for name, column in (("actor", AuditEntry.actor), ("action", AuditEntry.action),
                         ("object_type", AuditEntry.object_type), ("object_id", AuditEntry.object_id),
                         ("remote_addr", AuditEntry.remote_addr)):
        value = (args.get(name) or "").strip()[:100]
        if value:
            values[name] = value
            # A trailing * matches a prefix: "exception.*", "staff:*".
            conds.append(column.startswith(value[:-1], autoescape=True) if value.endswith("*") else column == value)
    days = {}
    for name in ("from", "to"):
        raw = (args.get(name) or "").strip()
        if raw:
            try:
                days[name] = date.fromisoformat(raw)
                values[name] = raw
            except ValueError:
                errors.append(f"{name}: must be a date as YYYY-MM-DD")
    if "from" in days and "to" in days and days["from"] > days["to"]:
        errors.append(f"to: the period ends ({days['to']}) before it starts ({days['from']}); swap the dates")
    elif not errors:
        from app.stats.population import local_midnight

        if "from" in days:
            conds.append(AuditEntry.occurred_at >= local_midnight(days["from"]))
        if "to" in days:
            conds.append(AuditEntry.occurred_at < local_midnight(days["to"] + timedelta(days=1)))
    return conds, values, errors


@bp.get("/")
@roles_required(Role.AUDITOR)
def log():
    """Who did what, when and from where; newest first, filterable, paged by sequence number."""
    conds, values, errors = _filters(request.args)
    if errors:
        return render_template("audit/log.html", entries=[], values=values, errors=errors, before=None,
                               tz=_tz(), chain=None), 422
    before = optional_row_id(request.args.get("before"))
    query = sa.select(AuditEntry).where(*conds)
    if before:
        query = query.where(AuditEntry.seq < before)
    entries = db.session.scalars(query.order_by(AuditEntry.seq.desc()).limit(PAGE_SIZE + 1)).all()
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    chain = None
    if request.args.get("verify") == "1":
        chain = walk_chain()
        record_verification(actor_name(), chain, request.remote_addr)
        db.session.commit()
    return render_template("audit/log.html", entries=entries, values=values, errors=[], tz=_tz(),
                           before=entries[-1].seq if more and entries else None, chain=chain)


@bp.post("/accept-break")
@roles_required(Role.AUDITOR)
def accept():
    """Accept the chain's first break as shown, with the incident's reference and what was found."""
    form = request.form
    try:
        broken = accept_break(actor_name(), optional_row_id(form.get("seq")) or 0, form.get("fingerprint") or "",
                              form.get("incident") or "", form.get("note") or "", request.remote_addr)
    except InvalidRequest as exc:
        db.session.rollback()
        walk = walk_chain()
        return render_template("audit/log.html", entries=[], values={}, errors=[], tz=_tz(), before=None,
                               chain=walk, accept_error=exc, accept_form=form), 422
    db.session.commit()
    flash(_("The break at entry %(seq)s is accepted: the chain is walked past it from now on.", seq=broken.seq),
          "success")
    return redirect(url_for("audit.log", verify=1))
