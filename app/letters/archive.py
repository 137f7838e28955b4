"""The archive register (8.2.4, Appendix C) and archival PDF/A-3 copies of completed responses.

Every completed review gets a register row when its response is stored, whatever the channel:
序号, 归档日期, 客户账号, 客户姓名, 回访任务名称, 归档人姓名, 备注. Review material is kept at
least 20 years (8.2.4); the PDF/A-3 copy is the answered questionnaire as the firm keeps it,
with the answers attached as JSON and their content hash printed.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Optional
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from app.auth.models import StaffUser
from app.extensions import db
from app.letters.config import setting
from app.letters.models import ArchiveEntry, Letter
from app.reviews.models import Channel, Invitation, Response
from app.reviews.signals import response_stored

SYSTEM_ARCHIVER = "系统自动归档"
CHANNEL_NAMES = {"link": "链接", "sms": "短信", "email": "电子邮件", "app": "App", "letter": "信函"}
REGISTER_COLUMNS = ["序号", "归档日期", "客户账号", "客户姓名", "回访任务名称", "归档人姓名", "备注"]


def task_name(invitation: Invitation) -> str:
    """回访任务名称: the questionnaire's title and pinned version, e.g. 适当性回访问卷（suitability v1）."""
    return f"{invitation.version.title_zh}（{invitation.version.label}）"


def _remarks(response: Response, extra: str = "") -> str:
    parts = [f"{CHANNEL_NAMES.get(response.channel.value, response.channel.value)}回访", f"回执{response.receipt_no}"]
    if response.flagged:
        parts.append("有异常答复待处理（8.4）")
    if extra:
        parts.append(extra)
    return "；".join(parts)[:500]


def _staff_name(username: Optional[str]) -> Optional[str]:
    if not username:
        return None
    return db.session.scalar(sa.select(StaffUser.display_name).where(StaffUser.username == username))


def register_response(response: Response, invitation: Invitation, *, new: bool = False) -> ArchiveEntry:
    """Add the register row of a completed review (called inside the submit transaction).

    new=True says the response was stored in this very transaction, so it cannot have a row yet
    (one SELECT less inside the submit's write lock).
    """
    if not new:
        existing = db.session.scalars(
            sa.select(ArchiveEntry).where(ArchiveEntry.response_id == response.id)).one_or_none()
        if existing is not None:
            return existing
    client = invitation.client
    entry = ArchiveEntry(
        response_id=response.id, client_id=client.id, archived_at=response.submitted_at,
        client_account=client.account, client_name=client.name, task_name=task_name(invitation)[:300],
        archived_by=(_staff_name(response.entered_by) or SYSTEM_ARCHIVER)[:100], remarks=_remarks(response),
        channel=response.channel.value, review_type=invitation.review_type.value,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


@response_stored.connect
def _on_response_stored(response: Response, invitation: Invitation, **_extra) -> None:
    register_response(response, invitation, new=True)  # the signal is sent only for a new response


def note_letter_archived(response: Response, letter: Letter, keyed_by: str, verifier: StaffUser) -> None:
    """A keyed letter is archived by the staff member who verified it; the remarks name both."""
    entry = register_response(response, letter.invitation)
    entry.archived_by = verifier.display_name[:100]
    keyer = _staff_name(keyed_by) or keyed_by
    entry.remarks = _remarks(response, f"信函{letter.code}，录入{keyer}，复核{verifier.display_name}")
    db.session.flush()


@dataclass
class RegisterFilter:
    """Filters of the register view and its exports."""

    date_from: Optional[date] = None
    date_to: Optional[date] = None
    account: str = ""
    name: str = ""
    task: str = ""
    channel: str = ""
    archived_by: str = ""


def _query(filters: RegisterFilter):
    zone = ZoneInfo(setting("LETTER_TIMEZONE"))
    query = sa.select(ArchiveEntry).order_by(ArchiveEntry.id)
    if filters.date_from:
        query = query.where(ArchiveEntry.archived_at >= datetime.combine(filters.date_from, time.min, zone))
    if filters.date_to:
        query = query.where(ArchiveEntry.archived_at < datetime.combine(filters.date_to, time.max, zone))
    if filters.account:
        query = query.where(ArchiveEntry.client_account == filters.account.strip())
    if filters.name:
        query = query.where(ArchiveEntry.client_name.contains(filters.name.strip(), autoescape=True))
    if filters.task:
        query = query.where(ArchiveEntry.task_name.contains(filters.task.strip(), autoescape=True))
    if filters.channel:
        query = query.where(ArchiveEntry.channel == filters.channel)
    if filters.archived_by:
        query = query.where(ArchiveEntry.archived_by.contains(filters.archived_by.strip(), autoescape=True))
    return query


def register_rows(filters: RegisterFilter, limit: Optional[int] = None, offset: int = 0) -> list[ArchiveEntry]:
    """The register rows matching the filters, in register order."""
    query = _query(filters)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return list(db.session.scalars(query))


def register_count(filters: RegisterFilter) -> int:
    """How many rows match."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(_query(filters).order_by(None).subquery()))


def _cells(entry: ArchiveEntry) -> list:
    archived = entry.archived_at.astimezone(ZoneInfo(setting("LETTER_TIMEZONE"))).date().isoformat()
    return [entry.id, archived, entry.client_account, entry.client_name, entry.task_name, entry.archived_by,
            entry.remarks]


def _safe(cell):
    # CSV/XLSX opened in a spreadsheet: a cell starting with = + - @ would run as a formula.
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


def register_csv(filters: RegisterFilter) -> bytes:
    """The register as CSV (UTF-8 with BOM so spreadsheet programs read the Chinese headers)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(REGISTER_COLUMNS)
    for entry in register_rows(filters):
        writer.writerow([_safe(c) for c in _cells(entry)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def register_xlsx(filters: RegisterFilter) -> bytes:
    """The register as an XLSX workbook (Appendix C layout)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook(write_only=False)
    sheet = workbook.active
    sheet.title = "归档登记表"
    sheet.append(REGISTER_COLUMNS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for entry in register_rows(filters):
        sheet.append([_safe(c) for c in _cells(entry)])
    for column, width in zip("ABCDEFG", (8, 12, 14, 12, 36, 14, 60)):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- archival copies ---------------------------------------------------------------------------

def answers_document(response: Response) -> dict:
    """What is attached to the archival copy: the answers and what they were given against."""
    invitation = response.invitation
    return {
        "receipt_no": response.receipt_no, "client_account": invitation.client.account,
        "questionnaire": invitation.version.label, "version_hash": response.version_hash,
        "channel": response.channel.value, "lang": response.lang, "entered_by": response.entered_by,
        "submitted_at": response.submitted_at.isoformat(), "answers": response.answers,
    }


def content_hash(document: dict) -> str:
    """sha256 over the canonical JSON of the attached document (printed on the copy)."""
    canonical = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def archival_pdf(response: Response) -> bytes:
    """The answered questionnaire as PDF/A-3b with answers.json attached and its content hash printed."""
    from weasyprint import Attachment

    from print_letters.archival import archival_html, archival_css
    from print_letters.render import render_pdf
    from app.reviews import service as reviews
    from questionnaires.placeholders import localize

    invitation = response.invitation
    document = answers_document(response)
    digest = content_hash(document)
    payload = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    questionnaire = localize(invitation.version.definition, "zh-CN", reviews.render_context(invitation))
    zone = ZoneInfo(setting("LETTER_TIMEZONE"))
    html = archival_html(
        questionnaire=questionnaire, answers=response.answers, firm=current_app.config["FIRM_NAME"],
        facts=[("回执编号", response.receipt_no), ("客户账号", invitation.client.account),
               ("客户姓名", invitation.client.name), ("回访类型", invitation.review_type.value),
               ("问卷版本", f"{invitation.version.label} · {response.version_hash}"),
               ("作答渠道", CHANNEL_NAMES.get(response.channel.value, response.channel.value)),
               ("录入人员", response.entered_by or "—"),
               ("提交时间", response.submitted_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"))],
        digest=digest,
    )
    return render_pdf([html], archival_css(), pdf_variant="pdf/a-3b",
                      metadata={"title": f"{invitation.version.title_zh} {response.receipt_no}",
                                "authors": [current_app.config["FIRM_NAME"]]},
                      attachments=[Attachment(string=payload, name="answers.json",
                                              description="Answers as stored (JSON)")])


def completed_response(response_id: int) -> Optional[Response]:
    """A stored response by id."""
    return db.session.get(Response, response_id)


__all__ = ["Channel", "REGISTER_COLUMNS", "RegisterFilter", "archival_pdf", "register_csv", "register_rows",
           "register_xlsx"]
