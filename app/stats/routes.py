"""Console pages of the stats area: statistics with charts (8.3.1), reports (Appendices G, H), exports."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, render_template, request, stream_with_context
from flask_login import current_user

from app.audit.service import record
from app.auth.decorators import actor_name, roles_required
from app.auth.models import Role
from app.clients.models import Client
from app.console.nav import nav_item
from app.db_types import utcnow
from app.definitions.models import Questionnaire, QuestionnaireVersion, ReviewType
from app.errors import abort_with
from app.extensions import db
from app.phrases import phrase, with_field
from app.reviews.models import Channel
from app.stats import export, reports, service
from app.stats.population import FilterError, campaigns_available, local_tz, parse_filter

bp = Blueprint("stats", __name__, url_prefix="/console/stats", template_folder="templates")

# 7.4: managers monitor, quality inspectors read everything; both may export (logged).
READERS = (Role.REVIEW_MANAGER, Role.QUALITY_INSPECTOR)
nav_item("Statistics", "stats.index", READERS, order=30)

PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.context_processor
def _tz():
    return {"tz": local_tz()}


def _choices() -> dict:
    return {
        "questionnaires": db.session.scalars(sa.select(Questionnaire.key).order_by(Questionnaire.key)).all(),
        "versions": db.session.scalars(sa.select(QuestionnaireVersion).join(Questionnaire)
                                       .order_by(Questionnaire.key, QuestionnaireVersion.number)).all(),
        "review_types": list(ReviewType), "channels": list(Channel),
        "branches": db.session.scalars(sa.select(Client.branch).where(Client.branch.is_not(None))
                                       .distinct().order_by(Client.branch)).all(),
        "campaigns_available": campaigns_available(), "type_labels": reports.REVIEW_TYPES,
        "channel_labels": reports.CHANNELS,
    }


def _filter_or_422():
    try:
        return parse_filter(request.values)
    except FilterError as exc:
        # The error page has no form to point at: it names the field, in either language.
        abort_with(422, with_field(exc.field, exc.message), field=exc.field)


@bp.get("/")
@roles_required(*READERS)
def index():
    """Statistics for any filter, as tables and bar charts."""
    lang = "zh-CN" if request.args.get("lang", _lang()) == "zh-CN" else "en"
    try:
        f = parse_filter(request.args)
        summary = service.summarize(f)
    except FilterError as exc:
        return render_template("stats/index.html", error=exc, summary=None, args=request.args, **_choices()), 422
    charts = {q.id: reports.question_chart(q, lang) for q in summary.questions}
    return render_template("stats/index.html", error=None, summary=summary, charts=charts,
                           funnel=reports.funnel_chart(summary, lang) if not summary.is_empty else None,
                           args=request.args, qs=f.query_args(), percent=reports.percent,
                           this_year=utcnow().astimezone(local_tz()).year, **_choices())


def _lang() -> str:
    from app.i18n import current_lang

    return current_lang()


@bp.get("/export.<any(csv, xlsx):kind>")
@roles_required(*READERS)
def export_responses(kind: str):
    """Responses as CSV or XLSX, streamed; the export is logged before the first byte is sent."""
    f = _filter_or_422()
    labels = request.args.get("labels", "zh-CN")
    if labels not in ("zh-CN", "en"):
        abort_with(422, phrase("labels: choose zh-CN or en"), field="labels")
    plan = export.ExportPlan(f, labels)
    record(actor_name(), "stats.export", "responses", None,
           {"format": kind, "labels": labels, "filter": f.query_args(), "rows": export.count_rows(f)},
           request.remote_addr)
    db.session.commit()
    body = export.stream_csv(plan) if kind == "csv" else export.stream_xlsx(plan)
    name = export.export_filename(kind, utcnow())
    return Response(stream_with_context(body), mimetype="text/csv; charset=utf-8" if kind == "csv" else XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _report_lang() -> str:
    return "en" if request.values.get("report_lang") == "en" else "zh-CN"


@bp.post("/report.pdf")
@roles_required(*READERS)
def campaign_report():
    """The Appendix G analysis report of the filtered reviews as PDF."""
    f = _filter_or_422()
    target = request.form.get("target_rate", "").strip()
    try:
        target_rate = float(target) / 100 if target else None
    except ValueError:
        target_rate = None
    if target_rate is not None and not 0 <= target_rate <= 1:
        abort_with(422, phrase("target_rate: enter a percentage from 0 to 100"), field="target_rate")
    summary = service.summarize(f)
    pdf = reports.campaign_report_pdf(summary, _report_lang(), reports.clean_narrative(request.form),
                                      current_user.display_name, target_rate)
    record(actor_name(), "stats.report", "report", None,
           {"kind": "appendix_g", "filter": f.query_args(), "targeted": summary.targeted}, request.remote_addr)
    db.session.commit()
    return Response(pdf, mimetype=PDF, headers={"Content-Disposition": 'attachment; filename="huifang-analysis.pdf"'})


@bp.post("/yearly.pdf")
@roles_required(*READERS)
def yearly_report():
    """The Appendix H yearly summary (three years side by side) as PDF."""
    year = request.form.get("year", type=int)
    if year is None or not 2000 <= year <= 2100:
        abort_with(422, phrase("year: enter a year such as 2026"), field="year")
    summary = service.yearly_summary(year)
    pdf = reports.yearly_report_pdf(summary, _report_lang(), reports.clean_narrative(request.form),
                                    current_user.display_name)
    record(actor_name(), "stats.report", "report", None, {"kind": "appendix_h", "year": year}, request.remote_addr)
    db.session.commit()
    return Response(pdf, mimetype=PDF,
                    headers={"Content-Disposition": f'attachment; filename="huifang-yearly-{year}.pdf"'})
