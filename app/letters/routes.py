"""Console pages of the letters area: batches, keying returned paper, duplicates, the archive register."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.decorators import actor_name, roles_required
from app.auth.models import Role
from app.clients.service import mask_name
from app.console.nav import nav_item
from app.errors import abort_with
from app.extensions import db
from app.params import optional_row_id, row_id, whole_number
from app.letters import archive, keying, service
from app.letters import jobs as _jobs  # noqa: F401  (registers the batch job's handler)
from app.letters.models import BatchStatus, LetterBatch, LetterStatus

bp = Blueprint("letters", __name__, url_prefix="/console/letters", template_folder="templates",
               static_folder="static")

PRINTERS = (Role.REVIEW_MANAGER, Role.REVIEW_EXECUTOR)
KEYERS = (Role.REVIEW_MANAGER, Role.REVIEW_EXECUTOR)
READERS = (Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR, Role.AUDITOR, Role.REVIEW_EXECUTOR)

nav_item("Letters", "letters.index", PRINTERS, order=60)
nav_item("Key in letters", "letters.key_start", KEYERS, order=61)
nav_item("Archive register", "letters.register", READERS, order=62)


def _fail(exc: service.LetterError):
    abort_with(exc.status, exc.message, field=exc.field, **({"errors": exc.errors} if hasattr(exc, "errors") else {}))


def _chunk_size(text: str):
    """Letters per file as typed, None when left empty; LetterError for anything but a whole number.

    Before, anything not made of digits quietly meant the default, and "²" (a digit to str.isdigit,
    not to int) was a 500.
    """
    if not text.strip():
        return None
    try:
        return whole_number(text, 1, 5000)
    except ValueError:
        raise service.LetterError("chunk_size", _("Enter a whole number of letters per file, from 1 to 5000.")) \
            from None


def get_batch_or_404(batch_id: int) -> LetterBatch:
    """The batch, or 404."""
    return db.get_or_404(LetterBatch, batch_id, description=_("No such batch."))


@bp.get("/")
@roles_required(*PRINTERS)
def index():
    """Batches, newest first, and the form to print a new one."""
    batches = db.session.scalars(db.select(LetterBatch).order_by(LetterBatch.id.desc()).limit(50)).all()
    queued = db.session.scalar(db.select(db.func.count()).select_from(service.Letter)
                               .where(service.Letter.status == LetterStatus.QUEUED))
    return render_template("letters/index.html", batches=batches, queued=queued, envelopes=service.envelopes(),
                           default_envelope=service.setting("LETTER_DEFAULT_ENVELOPE"),
                           chunk_size=service.setting("LETTER_CHUNK_SIZE"))


def _selection_from_form(form) -> service.Selection:
    try:
        return service.Selection(
            campaign_id=row_id(form["campaign_id"]) if form.get("campaign_id", "").strip() else None,
            questionnaire_key=form.get("questionnaire_key", "").strip() or None,
            created_since=date.fromisoformat(form["created_since"]) if form.get("created_since") else None,
            invitation_ids=[row_id(v) for v in form.get("invitation_ids", "").replace(",", " ").split()],
            queued_only=form.get("queued_only") == "1",
        )
    except ValueError:
        raise service.LetterError("selection", _("Campaign and invitation ids are numbers; the date is YYYY-MM-DD.")) \
            from None


@bp.post("/batches")
@roles_required(*PRINTERS)
def create_batch():
    """Fix the letters of a new batch and queue its rendering."""
    try:
        selection = _selection_from_form(request.form)
        if not (selection.campaign_id or selection.questionnaire_key or selection.created_since
                or selection.invitation_ids or selection.queued_only):
            raise service.LetterError("selection", _("Choose a campaign or at least one filter."))
        batch = service.create_batch(selection, actor_name(), name=request.form.get("name", "").strip() or None,
                                     envelope=request.form.get("envelope") or None,
                                     chunk_size=_chunk_size(request.form.get("chunk_size", "")))
    except service.LetterError as exc:
        _fail(exc)
    db.session.commit()
    return redirect(url_for("letters.batch", batch_id=batch.id), 303)


@bp.get("/batches/<int:batch_id>")
@roles_required(*PRINTERS)
def batch(batch_id: int):
    """A batch: live counter while it renders, then its files, manifest, summary and what was not printed."""
    return render_template("letters/batch.html", batch=get_batch_or_404(batch_id), BatchStatus=BatchStatus)


@bp.get("/batches/<int:batch_id>/status")
@roles_required(*PRINTERS)
def batch_status(batch_id: int):
    """The live counter as JSON (polled by the batch page)."""
    return jsonify(service.batch_progress(get_batch_or_404(batch_id)))


@bp.get("/batches/<int:batch_id>/download")
@roles_required(*PRINTERS)
def download(batch_id: int):
    """All chunk PDFs, manifest.csv and the summary as one zip for the print shop."""
    batch = get_batch_or_404(batch_id)
    if batch.status is not BatchStatus.DONE:
        abort_with(409, _("The batch is not finished yet."), field="batch")
    return Response(service.batch_zip(batch), mimetype="application/zip",
                    headers={"Content-Disposition": f"attachment; filename=letters-batch-{batch.id}.zip"})


@bp.get("/batches/<int:batch_id>/files/<name>")
@roles_required(*PRINTERS)
def batch_file(batch_id: int, name: str):
    """One file of a finished batch (a chunk PDF, manifest.csv, summary.txt)."""
    batch = get_batch_or_404(batch_id)
    if name not in [*(batch.files or []), "manifest.csv", "summary.txt", "summary.json"]:
        abort(404)
    path = service.batch_dir(batch) / name
    if not path.exists():
        abort(404)
    mimetype = {"pdf": "application/pdf", "csv": "text/csv", "txt": "text/plain", "json": "application/json"}
    return Response(path.read_bytes(), mimetype=mimetype[name.rsplit(".", 1)[1]],
                    headers={"Content-Disposition": f"attachment; filename={name}"})


@bp.post("/batches/<int:batch_id>/reprint")
@roles_required(*PRINTERS)
def reprint_batch(batch_id: int):
    """Print the same letters again (same letter ids) as a new batch."""
    new = service.reprint_batch(get_batch_or_404(batch_id), actor_name())
    db.session.commit()
    return redirect(url_for("letters.batch", batch_id=new.id), 303)


@bp.post("/reprint")
@roles_required(*PRINTERS)
def reprint_letter():
    """One letter again as a PDF, by its letter id."""
    letter = service.get_letter(request.form.get("letter_id", ""))
    if letter is None:
        abort_with(404, _("No letter has this id."), field="letter_id")
    try:
        pdf = service.reprint_letter(letter, actor_name())
    except service.LetterError as exc:
        _fail(exc)
    db.session.commit()
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f"attachment; filename={letter.code}.pdf"})


@bp.get("/key")
@roles_required(*KEYERS)
def key_start():
    """Type the letter id from the returned paper."""
    code = request.args.get("letter_id", "").strip()
    if code:
        return redirect(url_for("letters.key", code=service.normalize_code(code)))
    return render_template("letters/key_start.html", duplicates=keying.duplicates()[:20])


@bp.route("/key/<code>", methods=["GET", "POST"])
@roles_required(*KEYERS)
def key(code: str):
    """The data-entry screen: first entry, or the second staff member's blind verifying entry."""
    try:
        letter = keying.load_for_keying(code, current_user)
        if letter.status is LetterStatus.DIFFERENCES:
            return redirect(url_for("letters.verify", code=letter.code))
        if request.method == "POST":
            upload = request.files.get("scan")
            scan = (upload.filename, upload.read()) if upload and upload.filename else None
            letter = keying.key_entry(letter, current_user, request.form, scan)
            db.session.commit()
            return _after_keying(letter)
    except service.LetterError as exc:
        _fail(exc)
    return render_template("letters/key.html", letter=letter, round=keying.next_round(letter),
                           questions=keying.keyable_questions(letter), mask_name=mask_name)


def _after_keying(letter):
    messages = {
        LetterStatus.FIRST_ENTRY: _("Letter %(code)s keyed. A second staff member must now key it again to verify.",
                                    code=letter.code),
        LetterStatus.COMPLETED: _("Letter %(code)s verified: both entries agree and the answers are stored.",
                                  code=letter.code),
        LetterStatus.DUPLICATE: _("Letter %(code)s refused as a duplicate: %(note)s", code=letter.code,
                                  note=letter.duplicate_note),
    }
    if letter.status is LetterStatus.DIFFERENCES:
        return redirect(url_for("letters.verify", code=letter.code), 303)
    flash(messages[letter.status], "success" if letter.status is not LetterStatus.DUPLICATE else "error")
    return redirect(url_for("letters.key_start"), 303)


@bp.route("/verify/<code>", methods=["GET", "POST"])
@roles_required(*KEYERS)
def verify(code: str):
    """The verification screen: the questions the two entries answered differently, settled against the paper."""
    letter = service.get_letter(code) or abort(404, _("No letter has this id."))
    try:
        if request.method == "POST":
            keying.load_for_keying(code, current_user)
            letter = keying.resolve(letter, current_user, request.form)
            db.session.commit()
            return _after_keying(letter)
    except service.LetterError as exc:
        _fail(exc)
    if letter.status is not LetterStatus.DIFFERENCES:
        abort_with(409, _("This letter has no differences to resolve."), field="letter_id")
    return render_template("letters/verify.html", letter=letter, differences=keying.differences(letter),
                           questions={q["id"]: q for q in keying.keyable_questions(letter)},
                           entries={e.round: e for e in letter.entries})


def _register_filter(args) -> archive.RegisterFilter:
    try:
        return archive.RegisterFilter(
            date_from=date.fromisoformat(args["date_from"]) if args.get("date_from") else None,
            date_to=date.fromisoformat(args["date_to"]) if args.get("date_to") else None,
            account=args.get("account", ""), name=args.get("name", ""), task=args.get("task", ""),
            channel=args.get("channel", ""), archived_by=args.get("archived_by", ""))
    except ValueError:
        abort_with(422, _("Dates are written YYYY-MM-DD."), field="date_from")


@bp.get("/archive")
@roles_required(*READERS)
def register():
    """The archive register (8.2.4, Appendix C): filter, view, export as CSV or XLSX."""
    filters = _register_filter(request.args)
    export = request.args.get("format")
    if export == "csv":
        return Response(archive.register_csv(filters), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=archive-register.csv"})
    if export == "xlsx":
        return Response(archive.register_xlsx(filters),
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": "attachment; filename=archive-register.xlsx"})
    page = optional_row_id(request.args.get("page")) or 1
    rows = archive.register_rows(filters, limit=100, offset=(page - 1) * 100)
    total = archive.register_count(filters)
    args = {k: v for k, v in request.args.items() if k != "page"}
    next_url = url_for("letters.register", page=page + 1, **args) if total > page * 100 else None
    return render_template("letters/register.html", rows=rows, filters=filters, next_url=next_url,
                           total=total, mask_name=mask_name,
                           columns=archive.REGISTER_COLUMNS, channels=archive.CHANNEL_NAMES)


@bp.get("/responses/<int:response_id>/archive.pdf")
@roles_required(*READERS)
def archival_copy(response_id: int):
    """The PDF/A-3 archival copy of a completed response (answers attached as JSON)."""
    response = archive.completed_response(response_id) or abort(404, _("No such response."))
    pdf = archive.archival_pdf(response)
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f"attachment; filename=response-{response.receipt_no}.pdf"})
