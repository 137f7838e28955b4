"""Statistics of review results (8.3.1, Appendix G) and the yearly summary (Appendix H).

Everything is counted by the database: one grouped scan of the invitations for targeted /
reached / completed per version, and one scan of the responses in which every answer option is
a `count(*) FILTER (WHERE …)` — no response is loaded into Python. Definitions (a handful of
versions) are read to know the questions and to line them up by question id across versions.

Counting unit: one invitation is one review task for one client (Appendix H's 任务总数); a client
reviewed twice in the period counts twice. Shares of an answer are of the clients who answered
that question (a multiple-choice question's shares can add up to more than 100 %).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Optional

import sqlalchemy as sa

from app.definitions.models import QuestionnaireVersion, ReviewType
from app.extensions import db
from app.followup.models import ExceptionFollowup, Objection
from app.reviews.models import Channel, Invitation, InvitationStatus, ReviewException, Response
from app.stats.population import (
    StatsFilter, campaign_name, invitation_conditions, local_midnight, reached_clause,
)

COUNTED_TYPES = {"yes_no", "single_choice", "multiple_choice", "rating", "consent"}
NUMERIC_TYPES = {"number"}
ANSWERED_ONLY = {"text", "date"}


@dataclass
class OptionCount:
    """Clients who gave one answer to one question."""

    value: object
    label: dict  # {"zh-CN": ..., "en": ...}
    count: int = 0
    share: float = 0.0  # of those who answered the question, 0..1
    flagged: bool = False  # choosing it raises an exception


@dataclass
class QuestionStats:
    """One question lined up across versions, with its answer counts."""

    id: str
    type: str
    text: dict
    versions: list[str]  # labels of the versions that ask it, e.g. ["suitability v1", "suitability v2"]
    options: list[OptionCount] = field(default_factory=list)
    answered: int = 0
    numeric: Optional[dict] = None  # {"min", "avg", "max"} for number questions


@dataclass
class VersionCount:
    """Targeted / reached / completed for one questionnaire version."""

    version_id: int
    label: str
    targeted: int
    reached: int
    completed: int


@dataclass
class Summary:
    """The statistics of one filter."""

    filter: StatsFilter
    targeted: int
    reached: int
    completed: int
    versions: list[VersionCount]
    questions: list[QuestionStats]
    exceptions: dict
    elapsed_ms: float
    title: str = ""

    @property
    def completion_rate(self) -> Optional[float]:
        """Completed / targeted, or None when nothing was targeted."""
        return self.completed / self.targeted if self.targeted else None

    @property
    def reach_rate(self) -> Optional[float]:
        """Reached / targeted, or None when nothing was targeted."""
        return self.reached / self.targeted if self.targeted else None

    @property
    def is_empty(self) -> bool:
        """Nothing matched the filter."""
        return self.targeted == 0


# --- counting ------------------------------------------------------------------------------------


def version_counts(f: StatsFilter) -> list[VersionCount]:
    """Targeted, reached and completed per version, in one grouped scan of the invitations."""
    completed = Invitation.status == InvitationStatus.COMPLETED
    rows = db.session.execute(
        sa.select(Invitation.version_id, sa.func.count(),
                  sa.func.count().filter(reached_clause()), sa.func.count().filter(completed))
        .where(*invitation_conditions(f)).group_by(Invitation.version_id)
    ).all()
    if not rows:
        return []
    versions = {v.id: v for v in db.session.scalars(
        sa.select(QuestionnaireVersion).where(QuestionnaireVersion.id.in_([r[0] for r in rows])))}
    counts = [VersionCount(vid, versions[vid].label, t, r, c) for vid, t, r, c in rows]
    return sorted(counts, key=lambda c: (versions[c.version_id].questionnaire.key, versions[c.version_id].number))


def question_catalog(version_ids: list[int]) -> list[QuestionStats]:
    """Questions of these versions lined up by id: newest version's order first, then older-only ones."""
    versions = db.session.scalars(
        sa.select(QuestionnaireVersion).where(QuestionnaireVersion.id.in_(version_ids))
        .order_by(QuestionnaireVersion.published_at.desc(), QuestionnaireVersion.id.desc())
    ).all()
    catalog: dict[str, QuestionStats] = {}
    for version in versions:  # newest first: its texts and labels win
        for q in version.definition["questions"]:
            if q["type"] == "notice":
                continue
            stats = catalog.get(q["id"])
            if stats is None:
                stats = catalog[q["id"]] = QuestionStats(q["id"], q["type"], q["text"], [])
            stats.versions.append(version.label)
            known = {o.value for o in stats.options}
            for option in _options_of(q):
                if option.value not in known:
                    stats.options.append(option)
    for stats in catalog.values():
        stats.versions.sort()
    return list(catalog.values())


def _options_of(q: dict) -> list[OptionCount]:
    if q["type"] in ("yes_no", "single_choice", "multiple_choice"):
        return [OptionCount(o["value"], o["label"], flagged=bool(o.get("flag"))) for o in q.get("options", [])]
    if q["type"] == "rating":
        low = (q.get("flag_at_or_below") or {}).get("value", 0)
        return [OptionCount(n, {"zh-CN": f"{n}分", "en": str(n)}, flagged=n <= low)
                for n in range(q.get("scale", 5), 0, -1)]
    if q["type"] == "consent":
        return [OptionCount(True, {"zh-CN": "同意", "en": "Agreed"})]
    return []


def _extract(dialect: str, qid: str, qtype: str):
    """The answer to qid as a column of the inner scan (text, JSON array text or a number)."""
    element = Response.answers[qid]
    if qtype in NUMERIC_TYPES:
        return element.as_float()
    if qtype == "multiple_choice" and dialect == "postgresql":
        return element  # jsonb, tested with the ? operator
    if dialect == "postgresql":
        return element.as_string()
    return sa.cast(sa.func.json_extract(Response.answers, f'$."{qid}"'), sa.Text)


def _matches(dialect: str, column, qtype: str, value) -> sa.ColumnElement[bool]:
    """SQL: the extracted answer equals (or, for multiple choice, contains) the value."""
    if qtype == "multiple_choice":
        if dialect == "postgresql":
            return column.op("?")(sa.literal(str(value), sa.Text))
        each = sa.func.json_each(column).table_valued("value")
        return sa.exists(sa.select(1).select_from(each).where(each.c.value == str(value)))
    if value is True:
        return column.is_(True) if dialect == "postgresql" else column == "1"
    if dialect == "postgresql" and qtype == "rating":
        return column == int(value)
    return column == str(value)


def _needs_invitations(f: StatsFilter) -> bool:
    """True when the filter reads invitation or client columns (a version filter alone does not)."""
    return any(v not in (None, "") for v in (f.campaign_id, f.review_type, f.channel, f.branch, f.date_from, f.date_to))


def _response_scan(f: StatsFilter, select: sa.Select) -> sa.Select:
    """Restrict a scan of the responses to the filter, joining the invitations only when needed."""
    if _needs_invitations(f):
        return select.join(Invitation, Invitation.id == Response.invitation_id).where(*invitation_conditions(f))
    # A version / questionnaire filter reads the response's own pinned version: no join needed
    # (an answered invitation is never cancelled).
    return select.where(*_on_responses(f))


def _on_responses(f: StatsFilter) -> list[sa.ColumnElement[bool]]:
    conds = []
    if f.version_id is not None:
        conds.append(Response.version_id == f.version_id)
    if f.questionnaire:
        from app.definitions.models import Questionnaire

        conds.append(Response.version_id.in_(
            sa.select(QuestionnaireVersion.id).join(Questionnaire).where(Questionnaire.key == f.questionnaire)))
    return conds


_PG_TYPES = {"yes_no": sa.Text, "single_choice": sa.Text, "text": sa.Text, "date": sa.Text,
             "rating": sa.Integer, "consent": sa.Boolean, "number": sa.Float}


def _pg_answer_columns(plan):
    """PostgreSQL: jsonb_to_record parses each response's JSONB once into typed columns."""
    from sqlalchemy.dialects.postgresql import JSONB

    columns = [sa.column(q.id, _PG_TYPES.get(q.type, JSONB)) for _i, q in plan]
    record = sa.func.jsonb_to_record(Response.answers).table_valued(*columns).render_derived(
        name="answer", with_types=True)
    return record, {q.id: record.c[q.id] for _i, q in plan}


def answer_counts(f: StatsFilter, questions: list[QuestionStats]) -> None:
    """Fill in answered / per-option counts of every question with ONE scan of the responses."""
    dialect = db.session.get_bind().dialect.name
    plan = [(i, q) for i, q in enumerate(questions) if q.type in COUNTED_TYPES | NUMERIC_TYPES | ANSWERED_ONLY]
    if not plan:
        return
    if dialect == "postgresql":
        record, cols = _pg_answer_columns(plan)
    else:
        inner = _response_scan(f, sa.select(*[_extract(dialect, q.id, q.type).label(f"c{i}") for i, q in plan])
                               .select_from(Response)).subquery("answers")
        cols = {q.id: inner.c[f"c{i}"] for i, q in plan}
    aggregates, slots = [], []
    for _i, q in plan:
        col = cols[q.id]
        aggregates.append(sa.func.count(col))
        slots.append((q, "answered", None))
        for option in q.options:
            aggregates.append(sa.func.count().filter(_matches(dialect, col, q.type, option.value)))
            slots.append((q, "option", option))
        if q.type in NUMERIC_TYPES:
            aggregates += [sa.func.min(col), sa.func.avg(col), sa.func.max(col)]
            slots += [(q, "min", None), (q, "avg", None), (q, "max", None)]
    if dialect == "postgresql":
        query = _response_scan(f, sa.select(*aggregates).select_from(Response).join(record, sa.true()))
    else:
        query = sa.select(*aggregates).select_from(inner)
    row = db.session.execute(query).one()
    for (q, kind, option), value in zip(slots, row):
        if kind == "answered":
            q.answered = value or 0
        elif kind == "option":
            option.count = value or 0
        else:
            q.numeric = q.numeric or {}
            q.numeric[kind] = None if value is None else round(float(value), 2)
    for q in questions:
        for option in q.options:
            option.share = option.count / q.answered if q.answered else 0.0


def exception_counts(f: StatsFilter) -> dict:
    """Exceptions of the filtered reviews by severity, status and outcome; objections (Appendix G 二(二))."""
    base = (sa.select(ReviewException.severity, ReviewException.status, ExceptionFollowup.outcome,
                      sa.func.count())
            .join(Response, Response.id == ReviewException.response_id)
            .join(Invitation, Invitation.id == Response.invitation_id)
            .outerjoin(ExceptionFollowup, ExceptionFollowup.exception_id == ReviewException.id)
            .where(*invitation_conditions(f))
            .group_by(ReviewException.severity, ReviewException.status, ExceptionFollowup.outcome))
    result = {"total": 0, "by_severity": {}, "by_status": {}, "by_outcome": {}, "objections": 0, "upheld": 0}
    for severity, status, outcome, n in db.session.execute(base):
        result["total"] += n
        for key, value in (("by_severity", severity.value), ("by_status", status.value),
                           ("by_outcome", outcome.value if outcome else None)):
            if value is not None:
                result[key][value] = result[key].get(value, 0) + n
    objection_row = db.session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(Objection.upheld.is_(True)))
        .join(ReviewException, ReviewException.id == Objection.exception_id)
        .join(Response, Response.id == ReviewException.response_id)
        .join(Invitation, Invitation.id == Response.invitation_id)
        .where(*invitation_conditions(f))
    ).one()
    result["objections"], result["upheld"] = objection_row
    return result


def summarize(f: StatsFilter) -> Summary:
    """All statistics of a filter (raises FilterError for an unknown campaign)."""
    started = time.perf_counter()
    versions = version_counts(f)
    questions = question_catalog([v.version_id for v in versions]) if versions else []
    if any(v.completed for v in versions):
        answer_counts(f, questions)
    summary = Summary(
        filter=f, targeted=sum(v.targeted for v in versions), reached=sum(v.reached for v in versions),
        completed=sum(v.completed for v in versions), versions=versions, questions=questions,
        exceptions=exception_counts(f) if versions else {"total": 0, "by_severity": {}, "by_status": {},
                                                          "by_outcome": {}, "objections": 0, "upheld": 0},
        elapsed_ms=0.0,
    )
    summary.title = campaign_name(f.campaign_id) if f.campaign_id is not None else ""
    summary.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return summary


def text_answers(f: StatsFilter, question_id: str, limit: int = 20) -> list[tuple[str, int]]:
    """The most frequent free-text answers with how many clients gave each (Appendix G 二(三))."""
    column = Response.answers[question_id].as_string()
    rows = db.session.execute(
        sa.select(column, sa.func.count()).join(Invitation, Invitation.id == Response.invitation_id)
        .where(*invitation_conditions(f), column.is_not(None), column != "")
        .group_by(column).order_by(sa.func.count().desc(), column).limit(limit)
    ).all()
    return [(text, n) for text, n in rows if text and text.strip()]


# --- yearly summary (Appendix H) -----------------------------------------------------------------


@dataclass
class YearCell:
    """Targeted and completed in one year."""

    targeted: int = 0
    completed: int = 0

    @property
    def rate(self) -> Optional[float]:
        """Completion rate, or None when nothing was targeted."""
        return self.completed / self.targeted if self.targeted else None


@dataclass
class YearlySummary:
    """Reviews by type and channel, three years side by side (Appendix H)."""

    years: list[int]
    by_type: dict[str, dict[int, YearCell]]
    by_channel: dict[str, dict[int, YearCell]]
    by_type_channel: dict[tuple[str, str], YearCell]  # the report year only
    totals: dict[int, YearCell]
    exceptions: dict[int, int]

    @property
    def is_empty(self) -> bool:
        """No review in any of the three years."""
        return not any(c.targeted for c in self.totals.values())


def yearly_summary(year: int) -> YearlySummary:
    """Counts of reviews per type and channel for year-2..year in one grouped scan."""
    years = [year - 2, year - 1, year]
    bounds = {y: (local_midnight(date(y, 1, 1)), local_midnight(date(y + 1, 1, 1))) for y in years}
    completed = Invitation.status == InvitationStatus.COMPLETED
    columns = []
    for y in years:
        in_year = sa.and_(Invitation.created_at >= bounds[y][0], Invitation.created_at < bounds[y][1])
        columns += [sa.func.count().filter(in_year), sa.func.count().filter(sa.and_(in_year, completed))]
    rows = db.session.execute(
        sa.select(Invitation.review_type, Invitation.channel, *columns)
        .where(Invitation.status != InvitationStatus.CANCELLED,
               Invitation.created_at >= bounds[years[0]][0], Invitation.created_at < bounds[year][1])
        .group_by(Invitation.review_type, Invitation.channel)
    ).all()
    by_type: dict[str, dict[int, YearCell]] = {}
    by_channel: dict[str, dict[int, YearCell]] = {}
    by_type_channel: dict[tuple[str, str], YearCell] = {}
    totals = {y: YearCell() for y in years}
    for review_type, channel, *counts in rows:
        for k, y in enumerate(years):
            t, c = counts[2 * k], counts[2 * k + 1]
            for table, key in ((by_type, review_type.value), (by_channel, channel.value)):
                cell = table.setdefault(key, {yy: YearCell() for yy in years})[y]
                cell.targeted += t
                cell.completed += c
            totals[y].targeted += t
            totals[y].completed += c
        cell = by_type_channel.setdefault((review_type.value, channel.value), YearCell())
        cell.targeted += counts[-2]
        cell.completed += counts[-1]
    exc_cols = [sa.func.count().filter(sa.and_(ReviewException.created_at >= bounds[y][0],
                                               ReviewException.created_at < bounds[y][1])) for y in years]
    exc_row = db.session.execute(sa.select(*exc_cols)).one()
    order_t = [t.value for t in ReviewType]
    order_c = [c.value for c in Channel]
    return YearlySummary(
        years=years,
        by_type=dict(sorted(by_type.items(), key=lambda kv: order_t.index(kv[0]))),
        by_channel=dict(sorted(by_channel.items(), key=lambda kv: order_c.index(kv[0]))),
        by_type_channel=by_type_channel, totals=totals, exceptions=dict(zip(years, exc_row)),
    )
