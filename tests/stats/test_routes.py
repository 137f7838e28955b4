"""Statistics pages, exports and PDF reports: roles (7.4), logging, streaming, bad input."""
from __future__ import annotations

import csv
import io
import subprocess

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from pypdf import PdfReader

from app.audit.models import AuditEntry
from app.auth.models import Role
from app.extensions import db
from app.stats import export
from app.stats.population import StatsFilter
from tests.stats.conftest import post

ADMIN, MANAGER, INSPECTOR, EXECUTOR, AUDITOR = (Role.ADMIN, Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR,
                                                 Role.REVIEW_EXECUTOR, Role.AUDITOR)
ALL = [ADMIN, MANAGER, INSPECTOR, EXECUTOR, AUDITOR]
READERS = {ADMIN, MANAGER, INSPECTOR}


def actions():
    return db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.seq)).all()


@pytest.mark.parametrize("role, allowed", [(r, r in READERS) for r in ALL])
def test_statistics_page_roles(client, sign_in, population, role, allowed):
    sign_in(role)
    assert client.get("/console/stats/").status_code == (200 if allowed else 403)


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
@pytest.mark.parametrize("role, allowed", [(r, r in READERS) for r in ALL])
def test_export_roles_and_logging(client, sign_in, population, kind, role, allowed):
    sign_in(role)
    response = client.get(f"/console/stats/export.{kind}")
    assert response.status_code == (200 if allowed else 403)
    assert ("stats.export" in actions()) is allowed


@pytest.mark.parametrize("url, data", [("/console/stats/report.pdf", {}), ("/console/stats/yearly.pdf", {"year": "2026"})])
@pytest.mark.parametrize("role, allowed", [(r, r in READERS) for r in ALL])
def test_report_roles(client, sign_in, population, url, data, role, allowed):
    sign_in(role)
    response = post(client, url, data)
    assert response.status_code == (200 if allowed else 403)
    if allowed:
        assert response.data.startswith(b"%PDF")


def test_page_shows_counts_and_a_chart(client, sign_in, population):
    sign_in(MANAGER)
    page = client.get("/console/stats/?lang=en").get_data(as_text=True)
    assert "70.0%" in page and "<svg" in page and "Mobile app" in page


def test_page_with_a_reversed_range_is_422_with_a_clear_message(client, sign_in, population):
    sign_in(MANAGER)
    response = client.get("/console/stats/?from=2026-05-01&to=2026-04-01")
    assert response.status_code == 422
    assert "swap the dates" in response.get_data(as_text=True)


def test_page_with_a_filter_matching_nothing_says_so(client, sign_in, population):
    sign_in(MANAGER)
    response = client.get("/console/stats/?branch=广州分公司&lang=en")
    assert response.status_code == 200 and "No review matches these filters" in response.get_data(as_text=True)


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_csv_has_one_row_per_response_and_one_column_per_question(client, sign_in, population):
    sign_in(MANAGER)
    rows = read_csv(client.get("/console/stats/export.csv?labels=zh-CN").data)
    header, body = rows[0], rows[1:]
    assert len(body) == 7
    question_columns = [h for h in header if " · " in h]
    assert [h.split(" · ")[0] for h in question_columns] == ["own", "channels", "sat", "risk_known", "comment", "years"]


def test_csv_lines_up_versions_and_says_which_version_asked_what(client, sign_in, population):
    sign_in(MANAGER)
    rows = read_csv(client.get("/console/stats/export.csv?labels=en").data)
    header = rows[0]
    years = header.index(next(h for h in header if h.startswith("years · ")))
    version = header.index("Version")
    assert "[stats-q v1]" in header[years]
    v2_rows = [r for r in rows[1:] if r[version] == "2"]
    assert v2_rows and all(r[years] == "(not in this version)" for r in v2_rows)


def test_csv_labels_in_chinese_or_english(client, sign_in, population):
    sign_in(MANAGER)
    zh = read_csv(client.get("/console/stats/export.csv?labels=zh-CN").data)
    en = read_csv(client.get("/console/stats/export.csv?labels=en").data)
    col = zh[0].index(next(h for h in zh[0] if h.startswith("channels · ")))
    assert zh[1][col] == "手机应用" and en[1][col] == "Mobile app"
    assert zh[0][0] == "回执编号" and en[0][0] == "Receipt no."


def test_csv_neutralizes_formulas_typed_by_clients(client, sign_in, population):
    sign_in(MANAGER)
    rows = read_csv(client.get("/console/stats/export.csv").data)
    assert any(cell.startswith("'=cmd") for row in rows for cell in row)


def test_xlsx_opens_with_the_same_rows_and_a_questions_sheet(client, sign_in, population):
    sign_in(MANAGER)
    response = client.get("/console/stats/export.xlsx?labels=en")
    workbook = load_workbook(io.BytesIO(response.data), read_only=True)
    assert workbook.sheetnames == ["Responses", "Questions"]
    rows = list(workbook["Responses"].iter_rows(values_only=True))
    assert len(rows) == 8 and rows[0][0] == "Receipt no."
    questions = {r[0]: r[3] for r in list(workbook["Questions"].iter_rows(values_only=True))[1:]}
    assert questions["risk_known"] == "stats-q v2" and questions["own"] == "stats-q v1, stats-q v2"


def test_xlsx_rolls_over_to_a_new_sheet_past_the_row_limit(app, population):
    plan = export.ExportPlan(StatsFilter(), "en")
    data = b"".join(export.stream_xlsx(plan, max_rows=4))
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    assert workbook.sheetnames == ["Responses", "Responses 2", "Responses 3", "Questions"]
    assert sum(len(list(workbook[n].iter_rows())) - 1 for n in workbook.sheetnames[:3]) == 7


def test_export_is_streamed_in_chunks(client, sign_in, population, monkeypatch):
    monkeypatch.setattr(export, "BATCH", 2)
    sign_in(MANAGER)
    response = client.get("/console/stats/export.csv", buffered=False)
    assert response.is_streamed
    chunks = list(response.response)
    assert len(chunks) >= 1 and b"".join(chunks).count(b"\n") == 8
    response.close()


def test_export_audit_entry_records_filter_and_row_count(client, sign_in, population):
    sign_in(INSPECTOR)
    client.get("/console/stats/export.csv?branch=北京分公司&labels=en")
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "stats.export")).one()
    assert entry.details["rows"] == 3 and entry.details["filter"] == {"branch": "北京分公司"}


def test_export_with_a_reversed_range_is_422_and_not_logged(client, sign_in, population):
    sign_in(MANAGER)
    response = client.get("/console/stats/export.csv?from=2026-05-01&to=2026-04-01")
    assert response.status_code == 422 and "stats.export" not in actions()


def test_export_of_nothing_is_a_header_only_file(client, sign_in, population):
    sign_in(MANAGER)
    rows = read_csv(client.get("/console/stats/export.csv?branch=广州分公司").data)
    assert len(rows) == 1


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_campaign_report_follows_appendix_g_with_figures(client, sign_in, population):
    sign_in(MANAGER)
    response = post(client, "/console/stats/report.pdf", {"background": "2026年适当性回访", "target_rate": "80"})
    text = pdf_text(response.data)
    for heading in ("客户回访情况总述", "客户回访结果总结分析", "客户回访结果应用", "意见与建议"):
        assert heading in text
    assert "70.0%" in text and "2026年适当性回访" in text and "未达到预期" in text


def test_report_of_a_filter_matching_nothing_says_so(client, sign_in, population):
    sign_in(MANAGER)
    response = post(client, "/console/stats/report.pdf?branch=广州分公司", {"report_lang": "en"})
    assert response.status_code == 200
    assert "No review matches the chosen scope" in pdf_text(response.data)


def test_yearly_report_has_three_years_side_by_side(client, sign_in, population):
    sign_in(MANAGER)
    text = pdf_text(post(client, "/console/stats/yearly.pdf", {"year": "2026"}).data)
    assert "2024" in text and "2025" in text and "2026" in text and "近三年" in text


@pytest.mark.parametrize("year", ["", "20x6", "1999"])
def test_yearly_report_needs_a_year(client, sign_in, app, year):
    sign_in(MANAGER)
    response = post(client, "/console/stats/yearly.pdf", {"year": year})
    assert response.status_code == 422 and "stats.report" not in actions()


def test_report_charts_render_as_pictures(client, sign_in, population, tmp_path):
    """The PDF's first page rasterizes (pdftoppm) with the chart's bar colour on it."""
    sign_in(MANAGER)
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(post(client, "/console/stats/report.pdf", {}).data)
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "2", str(pdf), str(tmp_path / "p")], check=True)
    from PIL import Image

    pages = sorted(tmp_path.glob("p-*.png"))
    colours = set()
    for page in pages:
        colours |= {c for _n, c in Image.open(page).convert("RGB").getcolors(1 << 20)}
    assert any(abs(r - 0x0b) < 20 and abs(g - 0x4f) < 20 and abs(b - 0x9c) < 20 for r, g, b in colours)


def test_pdf_renderer_refuses_files_and_remote_urls(app):
    from app.stats.pdf import render_pdf

    html = '<img src="file:///etc/passwd"><img src="http://example.com/x.png"><p>ok</p>'
    assert render_pdf(html).startswith(b"%PDF")  # rendered, without fetching either
