"""Letters: the letter channel's queue, print batches, keying returned paper (double entry),
duplicates, the archive register (8.2.4, Appendix C) and archival PDF/A-3 copies.

Services flush, never commit; the route, the CLI command or the job runner commits.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Optional
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from flask import current_app, has_request_context

from app.audit.service import record
from app.db_types import utcnow
from app.definitions.models import Questionnaire, QuestionnaireVersion
from app.extensions import db
from app.params import row_id
from app.phrases import Phrase, phrase
from app.letters.config import output_root, setting
from app.letters.models import (
    BatchStatus, Letter, LetterBatch, LetterStatus,
)
from app.reviews import service as reviews
from app.reviews.models import Channel, Invitation, InvitationStatus
from print_letters.batch import FailedLetter, RenderedLetter, render_batch
from print_letters.envelopes import envelopes_from
from print_letters.glyphs import MissingGlyph
from print_letters.layout import Firm, LetterContent, mark
from questionnaires.placeholders import fill, localize, placeholders_in

LETTER_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O/1/I: typed back from paper
JOB_KIND = "letters.render_batch"

# Why the firm writes, per review type (5.1): printed after the salutation.
PURPOSES = {
    "zh-CN": {
        "suitability": "根据投资者适当性管理的要求，我公司每年对购买产品或接受服务的客户进行回访，了解您办理业务的情况，"
                       "确认产品或服务与您相适合。诚邀您抽出几分钟时间填写本次年度适当性回访问卷。",
        "_default": "为了解您办理业务的情况、保护您的合法权益，我公司依据《证券公司客户回访工作规范》"
                    "（T/SAC 002—2024）开展客户回访。诚邀您抽出几分钟时间填写本问卷。",
    },
    "en": {
        "suitability": "Each year we check with clients who bought a product or took a service that it was sold "
                       "properly and suits them. Please take a few minutes to fill in this year's suitability review.",
        "_default": "To protect your interests, we check with our clients how their business with us was handled "
                    "(client review standard T/SAC 002—2024). Please take a few minutes to fill in this review.",
    },
}


class LetterError(ValueError):
    """A letters request that cannot be carried out; names the field (422, 404 or 409 by `status`).

    The message is a phrase (app.phrases): English as text, the reader's language on a console page.
    """

    def __init__(self, field: str, message: str, status: int = 422):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status


# --- the letter channel ------------------------------------------------------------------------

def new_letter_code() -> str:
    """A letter id like HL-7K3M-Q9XP: short to type, unambiguous on paper, no personal data."""
    body = "".join(secrets.choice(LETTER_CODE_ALPHABET) for _ in range(8))
    return f"HL-{body[:4]}-{body[4:]}"


def normalize_code(text: str) -> str:
    """What staff type (hl7k3mq9xp, HL 7K3M Q9XP, …) as the stored form HL-7K3M-Q9XP."""
    raw = "".join(ch for ch in (text or "").upper() if ch.isalnum())
    if raw.startswith("HL"):
        raw = raw[2:]
    return f"HL-{raw[:4]}-{raw[4:]}" if len(raw) == 8 else (text or "").strip().upper()


def queue_letter(invitation_id: int) -> None:
    """The letter channel's hand-off: the invitation will be printed in the next batch (idempotent)."""
    if letter_for_invitation(invitation_id) is not None:
        return
    letter = Letter(code=new_letter_code(), invitation_id=invitation_id, status=LetterStatus.QUEUED)
    db.session.add(letter)
    db.session.flush()
    record("system", "letter.queue", "letter", letter.id, {"invitation": invitation_id, "code": letter.code})


def letter_for_invitation(invitation_id: int) -> Optional[Letter]:
    """The letter of an invitation, if it has one."""
    return db.session.scalars(sa.select(Letter).where(Letter.invitation_id == invitation_id)).one_or_none()


def get_letter(code: str) -> Optional[Letter]:
    """The letter with this id as staff typed it, or None."""
    return db.session.scalars(sa.select(Letter).where(Letter.code == normalize_code(code))).one_or_none()


# --- choosing letters --------------------------------------------------------------------------

@dataclass
class Selection:
    """Which invitations a batch prints: a campaign, or filters (all given filters apply)."""

    campaign_id: Optional[int] = None
    questionnaire_key: Optional[str] = None
    created_since: Optional[date] = None
    invitation_ids: list[int] = field(default_factory=list)
    queued_only: bool = False  # only letters queued by the letter channel and not printed yet

    def describe(self) -> dict:
        """The selection as JSON, stored with the batch."""
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.__dict__.items() if v}


def parse_selection(text: str) -> Selection:
    """CAMPAIGN_OR_FILTER as the CLI takes it: "campaign:12", "12" (a campaign), "questionnaire:suitability",
    "since:2026-11-01", "invitations:1,2,3", "queued", joined with spaces."""
    selection = Selection()
    for part in (text or "").split():
        name, _, value = part.partition(":")
        try:
            if part.isdigit() or name == "campaign":
                selection.campaign_id = row_id(value or part)
            elif name == "questionnaire" and value:
                selection.questionnaire_key = value
            elif name == "since":
                selection.created_since = date.fromisoformat(value)
            elif name == "invitations":
                selection.invitation_ids = [row_id(v) for v in value.split(",") if v]
            elif part == "queued":
                selection.queued_only = True
            else:
                raise ValueError
        except ValueError:
            raise LetterError("selection", phrase("cannot read %(part)r: use campaign:ID, questionnaire:KEY, "
                                                  "since:YYYY-MM-DD, invitations:1,2,3 or queued", part=part)) from None
    if not (selection.campaign_id or selection.questionnaire_key or selection.created_since
            or selection.invitation_ids or selection.queued_only):
        raise LetterError("selection", phrase("name a campaign or at least one filter"))
    return selection


def select_invitation_ids(selection: Selection) -> list[int]:
    """The invitations a selection names: channel letter (or a campaign's letter fallbacks), in id order."""
    query = sa.select(Invitation.id).order_by(Invitation.id)
    if selection.campaign_id is not None:
        try:
            from app.campaigns.service import letter_invitation_ids
        except ImportError:
            raise LetterError("campaign", phrase("campaigns are not available in this installation")) from None
        ids = letter_invitation_ids(selection.campaign_id)
        query = query.where(Invitation.id.in_(ids or [-1]))
    else:
        query = query.where(Invitation.channel == Channel.LETTER)
    if selection.questionnaire_key:
        query = (query.join(QuestionnaireVersion, QuestionnaireVersion.id == Invitation.version_id)
                 .join(Questionnaire).where(Questionnaire.key == selection.questionnaire_key))
    if selection.created_since:
        since = datetime.combine(selection.created_since, datetime.min.time(), ZoneInfo(setting("LETTER_TIMEZONE")))
        query = query.where(Invitation.created_at >= since)
    if selection.invitation_ids:
        query = query.where(Invitation.id.in_(selection.invitation_ids))
    if selection.queued_only:
        query = query.join(Letter, Letter.invitation_id == Invitation.id).where(Letter.status == LetterStatus.QUEUED)
    return list(db.session.scalars(query))


# --- batches -----------------------------------------------------------------------------------

def envelopes() -> dict:
    """The envelope types letters can be laid out for."""
    return envelopes_from(setting("LETTER_ENVELOPES"))


def create_batch(selection: Selection, actor: str, *, name: Optional[str] = None, envelope: Optional[str] = None,
                 chunk_size: Optional[int] = None, enqueue_job: bool = True,
                 reprint_of: Optional[LetterBatch] = None) -> LetterBatch:
    """Fix the batch's invitations and queue the rendering job (the job exists iff this commits)."""
    envelope = envelope or setting("LETTER_DEFAULT_ENVELOPE")
    if envelope not in envelopes():
        raise LetterError("envelope", phrase("unknown envelope type '%(envelope)s' (known: %(known)s)",
                                             envelope=envelope, known=", ".join(envelopes())))
    chunk_size = setting("LETTER_CHUNK_SIZE") if chunk_size is None else chunk_size
    if not 1 <= chunk_size <= 5000:
        raise LetterError("chunk_size", phrase("must be between 1 and 5000 letters per file"))
    ids = list(reprint_of.invitation_ids) if reprint_of else select_invitation_ids(selection)
    if not ids:
        raise LetterError("selection", phrase("no letter invitations match"))
    batch = LetterBatch(
        name=(name or (f"Reprint of batch {reprint_of.id}" if reprint_of else "Letters"))[:200],
        selection=reprint_of.selection if reprint_of else selection.describe(), invitation_ids=ids,
        envelope=envelope, chunk_size=chunk_size, total=len(ids), created_by=actor,
        reprint_of_id=reprint_of.id if reprint_of else None,
    )
    db.session.add(batch)
    db.session.flush()
    record(actor, "letters.batch.create", "letter_batch", batch.id,
           {"letters": len(ids), "selection": batch.selection, "envelope": envelope, "reprint_of": batch.reprint_of_id})
    if enqueue_job:
        from app.jobs.service import enqueue

        enqueue(JOB_KIND, {"batch_id": batch.id}, dedupe_key=f"letters.batch.{batch.id}")
    return batch


def reprint_batch(batch: LetterBatch, actor: str, enqueue_job: bool = True) -> LetterBatch:
    """A new batch with the same invitations (same letter ids) as an earlier one."""
    return create_batch(Selection(), actor, envelope=batch.envelope, chunk_size=batch.chunk_size,
                        enqueue_job=enqueue_job, reprint_of=batch)


def _local_date(moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(setting("LETTER_TIMEZONE"))).date()


def _firm() -> Firm:
    config = current_app.config
    return Firm(name=config["FIRM_NAME"], name_en=config["FIRM_NAME_EN"], service_phone=config["SERVICE_PHONE"],
                address=setting("LETTER_FIRM_ADDRESS"), department=setting("LETTER_DEPARTMENT"),
                website=setting("LETTER_WEBSITE"))


def _url_context():
    """A context to build links in: outside a request (worker, CLI) one for PUBLIC_BASE_URL.

    Entered once around a whole batch, not once per letter.
    """
    if has_request_context() or current_app.config.get("SERVER_NAME"):
        return contextlib.nullcontext()
    return current_app.test_request_context("/", base_url=current_app.config["PUBLIC_BASE_URL"])


def _links(invitation: Invitation) -> tuple[str, str]:
    """The signed link and the short link."""
    with _url_context():
        return reviews.invitation_url(invitation), reviews.short_url(invitation)


def skip_reason(invitation: Invitation) -> Optional[str]:
    """Why an invitation cannot be printed, or None (listed in the batch's report)."""
    if not (invitation.client.postal_address or "").strip():
        return "no postal address"
    if invitation.version.is_retired:
        return f"questionnaire version {invitation.version.label} is retired"
    status = invitation.effective_status(utcnow())
    if status is not InvitationStatus.PENDING and status is not InvitationStatus.OPENED:
        return f"invitation is {status.value}"
    return None


def _printed_questionnaire(version: QuestionnaireVersion, lang: str, cache: Optional[dict]) -> tuple[dict, tuple]:
    """(questionnaire localized with a mark for each placeholder, the placeholder names in mark order).

    The values are put in at printing (print_letters.layout), so every letter of a version shares
    one localized questionnaire and, when stamped, one laid-out template per width of its values.
    """
    key = (version.id, lang)
    if cache is not None and key in cache:
        return cache[key]
    names = ("client_name", *sorted(placeholders_in(version.definition) - {"client_name"}))
    marks = {name: mark(index) for index, name in enumerate(names)}
    printed = (localize(version.definition, lang, marks), names)
    if cache is not None:
        cache[key] = printed
    return printed


def _reprint_refusal(letter: Letter) -> Optional[Phrase]:
    """Why a letter cannot be reprinted (skip_reason as one whole sentence per reason), or None."""
    reason = skip_reason(letter.invitation)
    if reason is None:
        return None
    invitation, code = letter.invitation, letter.code
    if reason == "no postal address":
        return phrase("letter %(code)s cannot be reprinted: no postal address", code=code)
    if invitation.version.is_retired:
        return phrase("letter %(code)s cannot be reprinted: questionnaire version %(label)s is retired",
                      code=code, label=invitation.version.label)
    status = invitation.effective_status(utcnow())
    if status is InvitationStatus.COMPLETED:
        return phrase("letter %(code)s cannot be reprinted: invitation is completed", code=code)
    if status is InvitationStatus.EXPIRED:
        return phrase("letter %(code)s cannot be reprinted: invitation is expired", code=code)
    if status is InvitationStatus.CANCELLED:
        return phrase("letter %(code)s cannot be reprinted: invitation is cancelled", code=code)
    return phrase("letter %(code)s cannot be reprinted: %(reason)s", code=code, reason=reason)


def letter_content(invitation: Invitation, code: str, envelope: str, *, lang: Optional[str] = None,
                   with_qr: bool = True, cache: Optional[dict] = None) -> LetterContent:
    """Everything printed on one letter, from the invitation and the configuration.

    cache: a dict shared by the letters of one batch (their localized questionnaires).
    """
    lang = lang or setting("LETTER_LANG")
    url, short = _links(invitation)
    questionnaire, names = _printed_questionnaire(invitation.version, lang, cache)
    context = reviews.render_context(invitation)
    personal = tuple((name, fill("{" + name + "}", context)) for name in names)
    purposes = PURPOSES.get(lang, PURPOSES["zh-CN"])
    return LetterContent(
        letter_id=code, lang=lang, recipient_name=invitation.client.name,
        postal_address=invitation.client.postal_address,
        purpose=purposes.get(invitation.review_type.value, purposes["_default"]),
        deadline=_local_date(invitation.expires_at), issued_on=_local_date(utcnow()),
        invitation_url=url, short_url=short, short_code=invitation.short_code, questionnaire=questionnaire,
        privacy_notice=setting("LETTER_PRIVACY_NOTICE").get(lang) or setting("LETTER_PRIVACY_NOTICE")["zh-CN"],
        firm=_firm(), return_address=setting("LETTER_RETURN_ADDRESS"), envelope=envelopes()[envelope],
        with_qr=with_qr, personal=personal,
    )


def batch_dir(batch: LetterBatch) -> Path:
    """The batch's folder of PDFs, manifest and summary."""
    return Path(batch.output_dir) if batch.output_dir else output_root() / f"batch-{batch.id:06d}"


def _set_progress(batch_id: int, **values) -> None:
    # Its own short transaction, so the console's counter moves while the batch is still rendering.
    with db.engine.begin() as conn:
        conn.execute(sa.update(LetterBatch).where(LetterBatch.id == batch_id).values(**values))


MANIFEST_FIELDS = ["letter_id", "client_account", "name", "address", "pages", "file", "first_page", "invitation_id"]


def run_batch(batch_id: int, progress: Optional[Callable[[int], None]] = None,
              processes: Optional[int] = None) -> LetterBatch:
    """Render a batch: chunk PDFs, manifest.csv, summary.txt/json; letters not printable are listed, not printed.

    Reads first and writes last: the progress counter is updated in its own transactions meanwhile.
    """
    batch = db.session.get(LetterBatch, batch_id)
    started = utcnow()
    _set_progress(batch_id, status=BatchStatus.RENDERING.value, started_at=started, rendered=0, error=None)
    invitations = db.session.scalars(
        sa.select(Invitation).where(Invitation.id.in_(batch.invitation_ids)).order_by(Invitation.id)
        .options(selectinload(Invitation.client), selectinload(Invitation.version))  # not one query per letter
    ).all()
    existing = {letter.invitation_id: letter for letter in db.session.scalars(
        sa.select(Letter).where(Letter.invitation_id.in_(batch.invitation_ids)))}
    contents, skipped, rows, shared = [], [], {}, {}
    with _url_context():  # one request context for the batch's links, not one per letter
        for invitation in invitations:
            reason = skip_reason(invitation)
            if reason is None:
                letter = existing.get(invitation.id)
                code = letter.code if letter else new_letter_code()
                contents.append(letter_content(invitation, code, batch.envelope, cache=shared))
                rows[code] = invitation
                continue
            skipped.append({"invitation_id": invitation.id, "client_account": invitation.client.account,
                            "reason": reason})
    out = batch_dir(batch)
    if out.exists():
        shutil.rmtree(out)  # a re-run of the same batch replaces its files
    done = [0]

    def advance(n: int) -> None:
        done[0] += n
        _set_progress(batch_id, rendered=done[0])
        if progress:
            progress(n)

    results = render_batch(contents, out, chunk_size=batch.chunk_size, processes=processes or _processes(),
                           progress=advance) if contents else []
    rendered = [item for item in results if isinstance(item, RenderedLetter)]
    skipped += [{"invitation_id": rows[item.letter_id].id, "client_account": rows[item.letter_id].client.account,
                 "reason": item.reason} for item in results if isinstance(item, FailedLetter)]
    if not contents:
        out.mkdir(parents=True, exist_ok=True)
    now = utcnow()
    with open(out / "manifest.csv", "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, MANIFEST_FIELDS)
        writer.writeheader()
        for item in rendered:
            invitation = rows[item.letter_id]
            writer.writerow({"letter_id": item.letter_id, "client_account": invitation.client.account,
                             "name": invitation.client.name, "address": invitation.client.postal_address,
                             "pages": item.pages, "file": item.file, "first_page": item.first_page,
                             "invitation_id": invitation.id})
            letter = existing.get(invitation.id)
            if letter is None:
                letter = Letter(code=item.letter_id, invitation_id=invitation.id)
                db.session.add(letter)
            letter.batch_id = batch.id
            if letter.status is LetterStatus.QUEUED or letter.status is None:
                letter.status = LetterStatus.PRINTED
            letter.pages, letter.file, letter.first_page = item.pages, item.file, item.first_page
            letter.print_count = (letter.print_count or 0) + 1
            letter.printed_at = now
    db.session.refresh(batch)
    batch.status = BatchStatus.DONE
    batch.rendered = len(rendered)
    batch.printed = len(rendered)
    batch.pages = sum(item.pages for item in rendered)
    batch.skipped = skipped
    batch.files = sorted({item.file for item in rendered})
    batch.output_dir = str(out)
    batch.started_at = started
    batch.finished_at = now
    _write_summary(batch, out)
    db.session.flush()
    record(batch.created_by, "letters.batch.rendered", "letter_batch", batch.id,
           {"printed": batch.printed, "pages": batch.pages, "skipped": len(skipped), "files": len(batch.files)})
    return batch


def _processes() -> Optional[int]:
    return setting("LETTER_PROCESSES")


def _write_summary(batch: LetterBatch, out: Path) -> None:
    summary = {
        "batch": batch.id, "name": batch.name, "envelope": batch.envelope, "selection": batch.selection,
        "selected": batch.total, "printed": batch.printed, "pages": batch.pages, "files": batch.files,
        "skipped": batch.skipped, "started_at": batch.started_at.isoformat(),
        "finished_at": batch.finished_at.isoformat(), "reprint_of": batch.reprint_of_id,
    }
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    lines = [f"Batch {batch.id}: {batch.name}", f"Envelope: {batch.envelope}",
             f"Selected: {batch.total}  Printed: {batch.printed}  Pages: {batch.pages}  Files: {len(batch.files)}",
             f"Rendered: {batch.started_at:%Y-%m-%d %H:%M:%S} – {batch.finished_at:%H:%M:%S} UTC", ""]
    if batch.skipped:
        lines.append(f"Not printed ({len(batch.skipped)}):")
        lines += [f"  invitation {s['invitation_id']}  client {s['client_account']}: {s['reason']}" for s in batch.skipped]
    (out / "summary.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def fail_batch(batch_id: int, error: str) -> None:
    """Mark a batch failed with the reason (the job is dead-lettered)."""
    _set_progress(batch_id, status=BatchStatus.FAILED.value, error=error[:2000], finished_at=utcnow())


def batch_progress(batch: LetterBatch) -> dict:
    """The live counter shown in the console while the batch renders."""
    return {"id": batch.id, "status": batch.status.value, "total": batch.total, "rendered": batch.rendered,
            "printed": batch.printed, "skipped": len(batch.skipped or []), "pages": batch.pages,
            "error": batch.error}


def batch_zip(batch: LetterBatch) -> bytes:
    """Every chunk PDF, the manifest and the summary of a finished batch, zipped for the print shop."""
    import zipfile

    out = batch_dir(batch)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # PDFs are compressed already
        for name in [*batch.files, "manifest.csv", "summary.txt", "summary.json"]:
            if (out / name).exists():
                archive.write(out / name, arcname=f"batch-{batch.id}/{name}")
    return buffer.getvalue()


def reprint_letter(letter: Letter, actor: str) -> bytes:
    """One letter again as a PDF (same letter id); refused when it can no longer be answered."""
    refusal = _reprint_refusal(letter)
    if refusal:
        raise LetterError("letter", refusal, status=409)
    from print_letters.layout import letter_html, page_css
    from print_letters.render import render_pdf

    envelope = letter.batch.envelope if letter.batch else setting("LETTER_DEFAULT_ENVELOPE")
    content = letter_content(letter.invitation, letter.code, envelope)
    try:
        pdf = render_pdf([letter_html(content)], page_css(content.lang), metadata={"title": letter.code})
    except MissingGlyph as exc:
        raise LetterError("letter", str(exc)) from None
    letter.print_count += 1
    letter.printed_at = utcnow()
    if letter.status is LetterStatus.QUEUED:
        letter.status = LetterStatus.PRINTED
    db.session.flush()
    record(actor, "letter.reprint", "letter", letter.id, {"code": letter.code, "prints": letter.print_count})
    return pdf
