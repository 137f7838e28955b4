"""The campaign analysis report (Appendix G) and the yearly summary (Appendix H) as PDF.

The reports are documents a firm files, so their wording is kept here in both languages (not left
to UI translations): the Chinese report reads as the standard's outline, the English one mirrors it.
Figures come from app.stats.service; charts are the same server-drawn SVG as the console's.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from flask import current_app, render_template

from app.db_types import utcnow
from app.stats.charts import Bar, bar_chart, percent
from app.stats.pdf import render_pdf
from app.stats.population import local_tz
from app.stats.service import QuestionStats, Summary, YearlySummary, text_answers

REVIEW_TYPES = {
    "new_account": ("新开户回访", "New account"),
    "new_permission": ("新增交易权限回访", "New trading permission"),
    "abnormal": ("异常情形回访", "Abnormal situation"),
    "suitability": ("适当性回访", "Suitability"),
    "broker_practice": ("执业情况回访", "Broker practice"),
    "private_fund": ("私募基金回访", "Private fund"),
    "departing_staff": ("拟离职人员客户回访", "Clients of departing staff"),
    "complained_staff": ("被投诉人员客户回访", "Clients of complained staff"),
    "complaint_closure": ("投诉处理完结回访", "Complaint closure"),
    "other": ("其他回访", "Other"),
}
CHANNELS = {
    "link": ("网页链接问卷", "Web link"),
    "sms": ("短信问卷", "SMS"),
    "email": ("电子邮件问卷", "Email"),
    "app": ("App问卷", "App"),
    "letter": ("纸质信函问卷", "Paper letter"),
}
SEVERITIES = {"high": ("高", "High"), "medium": ("中", "Medium"), "low": ("低", "Low")}
STATUSES = {"open": ("待分派", "Open"), "assigned": ("处理中", "Assigned"), "escalated": ("已上报", "Escalated"),
            "closed": ("已办结", "Closed")}
OUTCOMES = {"violation_confirmed": ("违规属实，已移交处理", "Violation confirmed, handed over"),
            "rectified": ("问题属实，已整改", "Confirmed and rectified"),
            "no_violation": ("经核实无违规", "No violation found"),
            "client_misunderstanding": ("客户误解，已解释", "Client misunderstanding, explained")}
NARRATIVE_FIELDS = ("background", "analysis", "expectations", "suggestions_plan", "improvements", "optimization",
                    "key_work", "branch_suggestions", "next_year_plan")
MAX_NARRATIVE = 8000


def label(table: dict, key: str, lang: str) -> str:
    """A label of one of the tables above in the language."""
    pair = table.get(key)
    return pair[0 if lang == "zh-CN" else 1] if pair else key


def question_chart(q: QuestionStats, lang: str, width: int = 640) -> Optional[str]:
    """Bar chart of a question's answers (count and share), or None for free-text questions."""
    if not q.options:
        return None
    bars = [Bar(o.label[lang], o.count, f"{o.count:,} · {percent(o.share)}", o.flagged) for o in q.options]
    return bar_chart(bars, width=width, name=q.text[lang])


def funnel_chart(summary: Summary, lang: str, width: int = 640) -> str:
    """Targeted / reached / completed as bars."""
    zh = lang == "zh-CN"
    names = ("回访任务数", "触达数", "完成数") if zh else ("Targeted", "Reached", "Completed")
    values = (summary.targeted, summary.reached, summary.completed)
    shares = (1.0 if summary.targeted else None, summary.reach_rate, summary.completion_rate)
    return bar_chart([Bar(n, v, f"{v:,} · {percent(s)}") for n, v, s in zip(names, values, shares)], width=width,
                     name="回访任务、触达与完成" if zh else "Targeted, reached and completed")


def filter_description(summary: Summary, lang: str) -> list[tuple[str, str]]:
    """The filter as (name, value) lines for the report's first section."""
    f = summary.filter
    zh = lang == "zh-CN"
    lines = []
    if f.campaign_id is not None:
        lines.append(("回访活动" if zh else "Campaign", summary.title or f"#{f.campaign_id}"))
    if f.questionnaire:
        lines.append(("问卷" if zh else "Questionnaire", f.questionnaire))
    if f.version_id is not None:
        names = [v.label for v in summary.versions]
        lines.append(("问卷版本" if zh else "Version", ", ".join(names) or f"#{f.version_id}"))
    if f.review_type:
        lines.append(("回访类型" if zh else "Review type", label(REVIEW_TYPES, f.review_type.value, lang)))
    if f.channel:
        lines.append(("渠道" if zh else "Channel", label(CHANNELS, f.channel.value, lang)))
    if f.branch:
        lines.append(("分支机构" if zh else "Branch", f.branch))
    if f.date_from or f.date_to:
        lines.append(("期间" if zh else "Period",
                      f"{f.date_from or '…'} — {f.date_to or '…'}"))
    return lines or [("范围" if zh else "Scope", "全部回访" if zh else "All reviews")]


def clean_narrative(form) -> dict[str, str]:
    """The free-text sections a manager wrote for the report (trimmed, bounded)."""
    return {k: (form.get(k) or "").replace("\r\n", "\n").strip()[:MAX_NARRATIVE] for k in NARRATIVE_FIELDS}


def campaign_report_html(summary: Summary, lang: str, narrative: dict, author: str,
                         target_rate: Optional[float] = None) -> str:
    """The Appendix G report as HTML (the PDF's source)."""
    charts = {q.id: question_chart(q, lang) for q in summary.questions}
    suggestions = {q.id: text_answers(summary.filter, q.id) for q in summary.questions if q.type == "text"}
    notable = sorted(
        ((q, o) for q in summary.questions for o in q.options if o.flagged and o.count),
        key=lambda pair: pair[1].share, reverse=True)[:5]
    return render_template(
        "stats/report_campaign.html", s=summary, lang=lang, charts=charts, funnel=funnel_chart(summary, lang),
        filters=filter_description(summary, lang), narrative=narrative, author=author, notable=notable,
        suggestions=suggestions, target_rate=target_rate, percent=percent, generated_at=_now_local(),
        REVIEW_TYPES=REVIEW_TYPES, SEVERITIES=SEVERITIES, STATUSES=STATUSES, OUTCOMES=OUTCOMES, label=label,
        firm=current_app.config["FIRM_NAME"] if lang == "zh-CN" else current_app.config["FIRM_NAME_EN"],
    )


def yearly_report_html(ys: YearlySummary, lang: str, narrative: dict, author: str) -> str:
    """The Appendix H report as HTML."""
    year = ys.years[-1]
    rate_bars = [Bar(str(y), (ys.totals[y].rate or 0) * 100, percent(ys.totals[y].rate)) for y in ys.years]
    type_bars = [Bar(label(REVIEW_TYPES, t, lang), cells[year].completed,
                     f"{cells[year].completed:,} / {cells[year].targeted:,} · {percent(cells[year].rate)}")
                 for t, cells in ys.by_type.items()]
    channel_bars = [Bar(label(CHANNELS, c, lang), cells[year].completed,
                        f"{cells[year].completed:,} · {percent(cells[year].rate)}")
                    for c, cells in ys.by_channel.items()]
    zh = lang == "zh-CN"
    return render_template(
        "stats/report_yearly.html", ys=ys, year=year, lang=lang, narrative=narrative, author=author,
        rate_chart=bar_chart(rate_bars, max_value=100, title="近三年回访完成率" if zh else "Completion rate, three years"),
        type_chart=bar_chart(type_bars, title=f"{year}年各类型完成数 / 任务数 · 完成率" if zh else f"Completed / tasks by type, {year} · rate") if type_bars else None,
        channel_chart=bar_chart(channel_bars, title=f"{year}年各渠道完成数 · 完成率" if zh else f"Completed by channel, {year} · rate") if channel_bars else None,
        percent=percent, label=label, REVIEW_TYPES=REVIEW_TYPES, CHANNELS=CHANNELS, generated_at=_now_local(),
        firm=current_app.config["FIRM_NAME"] if zh else current_app.config["FIRM_NAME_EN"],
    )


def _now_local() -> datetime:
    return utcnow().astimezone(local_tz())


def print_css() -> str:
    """The reports' print stylesheet."""
    return render_template("stats/print.css")


def campaign_report_pdf(summary: Summary, lang: str, narrative: dict, author: str,
                        target_rate: Optional[float] = None) -> bytes:
    """The Appendix G analysis report as PDF bytes."""
    return render_pdf(campaign_report_html(summary, lang, narrative, author, target_rate), print_css())


def yearly_report_pdf(ys: YearlySummary, lang: str, narrative: dict, author: str) -> bytes:
    """The Appendix H yearly summary as PDF bytes."""
    return render_pdf(yearly_report_html(ys, lang, narrative, author), print_css())
