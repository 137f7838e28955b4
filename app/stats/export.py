"""Response exports as CSV and XLSX, streamed: one row per response, one column per question.

Rows are read in keyset batches of plain tuples (never ORM objects), formatted and sent, so
memory stays flat however many rows there are. Questions of several versions are lined up by
question id; the header names the versions that ask each question, the `version` column says
which version the row was answered on, and a cell of a question that version did not ask says so.
XLSX is written as a zip stream by hand (inline strings, no shared-string table), rolling over to
a new sheet every 1,048,575 rows, with a "Questions" sheet mapping each column to its versions.
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import datetime
from typing import Iterable, Iterator
from xml.sax.saxutils import escape

import sqlalchemy as sa

from app.clients.models import Client
from app.definitions.models import QuestionnaireVersion
from app.extensions import db
from app.reviews.models import Invitation, Response
from app.stats.population import StatsFilter, invitation_conditions, local_tz
from app.stats.service import QuestionStats, question_catalog

BATCH = 2000
XLSX_MAX_ROWS = 1_048_576
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

FIXED = {  # key: (zh-CN, en)
    "receipt_no": ("回执编号", "Receipt no."),
    "client_account": ("客户账号", "Client account"),
    "branch": ("分支机构", "Branch"),
    "review_type": ("回访类型", "Review type"),
    "channel": ("渠道", "Channel"),
    "questionnaire": ("问卷", "Questionnaire"),
    "version": ("问卷版本", "Version"),
    "submitted_at": ("提交时间", "Submitted at"),
    "lang": ("答题语言", "Language"),
    "entered_by": ("录入人（纸质问卷）", "Keyed in by (paper)"),
}
NOT_ASKED = {"zh-CN": "（该版本无此题）", "en": "(not in this version)"}
AGREED = {"zh-CN": "同意", "en": "Agreed"}


class ExportPlan:
    """The columns of an export and how to turn one stored response into one row."""

    def __init__(self, f: StatsFilter, lang: str):
        self.filter = f
        self.lang = lang if lang in ("zh-CN", "en") else "zh-CN"
        version_ids = db.session.scalars(
            sa.select(Invitation.version_id).where(*invitation_conditions(f)).distinct()
        ).all()
        self.versions = {v.id: v for v in db.session.scalars(
            sa.select(QuestionnaireVersion).where(QuestionnaireVersion.id.in_(version_ids)))} if version_ids else {}
        self.questions: list[QuestionStats] = question_catalog(list(self.versions)) if self.versions else []
        self.asked = {vid: {q["id"] for q in v.definition["questions"]} for vid, v in self.versions.items()}
        self.labels = {vid: self._labels(v) for vid, v in self.versions.items()}
        self.version_names = {vid: (v.questionnaire.key, v.number) for vid, v in self.versions.items()}

    def _labels(self, version: QuestionnaireVersion) -> dict:
        labels = {}
        for q in version.definition["questions"]:
            for option in q.get("options", []) or []:
                labels[(q["id"], option["value"])] = option["label"][self.lang]
        return labels

    def header(self) -> list[str]:
        """Column titles in the chosen language; question columns say which versions ask them."""
        index = 0 if self.lang == "zh-CN" else 1
        titles = [names[index] for names in FIXED.values()]
        for q in self.questions:
            versions = ", ".join(q.versions)
            titles.append(f"{q.id} · {q.text[self.lang]} [{versions}]")
        return titles

    def question_sheet(self) -> list[list[str]]:
        """Rows of the XLSX "Questions" sheet: id, text, type, versions asking it."""
        head = ["题目编号", "题目", "题型", "提问的版本"] if self.lang == "zh-CN" else \
            ["Question id", "Question", "Type", "Asked in versions"]
        return [head] + [[q.id, q.text[self.lang], q.type, ", ".join(q.versions)] for q in self.questions]

    def cell(self, version_id: int, question: QuestionStats, answers: dict) -> object:
        """One answer as the export shows it (option labels in the chosen language)."""
        if question.id not in self.asked.get(version_id, ()):
            return NOT_ASKED[self.lang]
        value = answers.get(question.id)
        if value is None:
            return ""
        if question.type == "consent":
            return AGREED[self.lang] if value else ""
        if isinstance(value, list):
            return "; ".join(self.labels[version_id].get((question.id, v), str(v)) for v in value)
        if question.type in ("yes_no", "single_choice"):
            return self.labels[version_id].get((question.id, value), str(value))
        return value

    def rows(self) -> Iterator[list]:
        """Every response of the filter as a row, read in keyset batches."""
        tz = local_tz()
        last_id = 0
        query = (sa.select(Response.id, Response.receipt_no, Response.version_id, Response.answers,
                           Response.channel, Response.lang, Response.submitted_at, Response.entered_by,
                           Invitation.review_type, Client.account, Client.branch)
                 .join(Invitation, Invitation.id == Response.invitation_id)
                 .join(Client, Client.id == Invitation.client_id)
                 .where(*invitation_conditions(self.filter)))
        while True:
            batch = db.session.execute(query.where(Response.id > last_id).order_by(Response.id).limit(BATCH)).all()
            if not batch:
                return
            for r in batch:
                key, number = self.version_names[r.version_id]
                row = [r.receipt_no, r.account, r.branch or "", r.review_type.value, r.channel.value,
                       key, number,
                       r.submitted_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"), r.lang, r.entered_by or ""]
                answers = r.answers or {}
                row += [self.cell(r.version_id, q, answers) for q in self.questions]
                yield row
            last_id = batch[-1].id


# --- CSV -----------------------------------------------------------------------------------------


def _csv_safe(value: object) -> object:
    """Neutralize spreadsheet formulas in text a client typed (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def stream_csv(plan: ExportPlan) -> Iterator[bytes]:
    """UTF-8 CSV with a BOM (so spreadsheet programs read Chinese right), sent in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(plan.header())
    count = 0
    for row in plan.rows():
        writer.writerow([_csv_safe(v) for v in row])
        count += 1
        if count % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


# --- XLSX ----------------------------------------------------------------------------------------


class _Sink:
    """A write-only file for ZipFile that hands out what was written since the last drain."""

    def __init__(self):
        self.chunks: list[bytes] = []

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def _column_name(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def _xml_cell(value: object, style: int = 0) -> str:
    s = f' s="{style}"' if style else ""
    if isinstance(value, bool):
        return f'<c t="b"{s}><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        return f"<c{s}><v>{value}</v></c>"
    text = _ILLEGAL_XML.sub("", str(value))[:32767]
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c t="inlineStr"{s}><is><t{space}>{escape(text)}</t></is></c>'


def _xml_row(values: Iterable[object], style: int = 0) -> str:
    return "<row>" + "".join(_xml_cell(v, style) for v in values) + "</row>"


SHEET_HEAD = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
              '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
              '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" state="frozen"/>'
              '</sheetView></sheetViews><sheetData>')
SHEET_TAIL = "</sheetData></worksheet>"
STYLES = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
          '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
          '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
          '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
          '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
          '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
          '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
          '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
          '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
          '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
          '</styleSheet>')


def _workbook_parts(sheet_names: list[str]) -> dict[str, str]:
    sheets = "".join(f'<sheet name="{escape(n)}" sheetId="{i}" r:id="rId{i}"/>' for i, n in enumerate(sheet_names, 1))
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        f'Target="worksheets/sheet{i}.xml"/>' for i in range(1, len(sheet_names) + 1))
    n = len(sheet_names) + 1
    rels += (f'<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
             'Target="styles.xml"/>')
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(sheet_names) + 1))
    return {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            f"{overrides}</Types>"),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f"<sheets>{sheets}</sheets></workbook>"),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f"{rels}</Relationships>"),
        "xl/styles.xml": STYLES,
    }


def stream_xlsx(plan: ExportPlan, max_rows: int = XLSX_MAX_ROWS) -> Iterator[bytes]:
    """An XLSX workbook produced row by row: responses sheet(s), then the Questions sheet."""
    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=5)
    header = plan.header()
    base = "回访结果" if plan.lang == "zh-CN" else "Responses"
    sheet_names: list[str] = []

    def open_sheet():
        sheet_names.append(base if not sheet_names else f"{base} {len(sheet_names) + 1}")
        handle = archive.open(f"xl/worksheets/sheet{len(sheet_names)}.xml", "w", force_zip64=True)
        handle.write((SHEET_HEAD + _xml_row(header, style=1)).encode("utf-8"))
        return handle

    sheet, rows_in_sheet = open_sheet(), 1
    for count, row in enumerate(plan.rows(), 1):
        if rows_in_sheet >= max_rows:
            sheet.write(SHEET_TAIL.encode("utf-8"))
            sheet.close()
            sheet, rows_in_sheet = open_sheet(), 1
        sheet.write(_xml_row(row).encode("utf-8"))
        rows_in_sheet += 1
        if count % 500 == 0:
            data = sink.drain()
            if data:
                yield data
    sheet.write(SHEET_TAIL.encode("utf-8"))
    sheet.close()
    questions = plan.question_sheet()
    sheet_names.append("题目" if plan.lang == "zh-CN" else "Questions")
    with archive.open(f"xl/worksheets/sheet{len(sheet_names)}.xml", "w") as handle:
        handle.write((SHEET_HEAD + _xml_row(questions[0], style=1)
                      + "".join(_xml_row(r) for r in questions[1:]) + SHEET_TAIL).encode("utf-8"))
    for name, text in _workbook_parts(sheet_names).items():
        archive.writestr(name, text)
    archive.close()
    yield sink.drain()


def export_filename(kind: str, now: datetime) -> str:
    """huifang-responses-20261124-1530.csv"""
    return f"huifang-responses-{now.astimezone(local_tz()).strftime('%Y%m%d-%H%M')}.{kind}"


def count_rows(f: StatsFilter) -> int:
    """How many responses an export of this filter holds (for the audit entry)."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Response).join(Invitation, Invitation.id == Response.invitation_id)
        .where(*invitation_conditions(f))) or 0

