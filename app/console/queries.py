"""Read-only queries behind the console pages (the changes go through the areas' services)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager, joinedload

from app.clients.models import Client
from app.definitions.models import Questionnaire, QuestionnaireVersion, ReviewType
from app.extensions import db
from app.reviews.models import (
    ExceptionStatus, IdentityAttempt, Invitation, InvitationStatus, ReviewException, Response,
)
from questionnaires.placeholders import AUTO_FILLED, placeholders_in

PAGE_SIZE = 50
_OPEN = (InvitationStatus.PENDING, InvitationStatus.OPENED)


@dataclass(frozen=True)
class Page:
    """One page of a list: the rows, the page number and whether more pages exist."""

    items: list
    number: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.number > 1


def paginate(query: sa.Select, number: int, size: int = PAGE_SIZE) -> Page:
    """Run `query` for page `number` (1-based); one extra row tells whether a next page exists."""
    number = max(number, 1)
    rows = db.session.scalars(query.limit(size + 1).offset((number - 1) * size)).all()
    return Page(list(rows[:size]), number, len(rows) > size)


def effective_status_filter(status: InvitationStatus, now: datetime) -> sa.ColumnElement[bool]:
    """SQL twin of Invitation.effective_status: an open invitation past its deadline is expired."""
    if status is InvitationStatus.EXPIRED:
        return sa.or_(Invitation.status == InvitationStatus.EXPIRED,
                      sa.and_(Invitation.status.in_(_OPEN), Invitation.expires_at <= now))
    if status in _OPEN:
        return sa.and_(Invitation.status == status, Invitation.expires_at > now)
    return Invitation.status == status


def invitation_counts(now: datetime) -> dict[InvitationStatus, int]:
    """Invitations by effective status (every status listed, zeros included)."""
    past_deadline = Invitation.expires_at <= now
    rows = db.session.execute(
        sa.select(Invitation.status, past_deadline, sa.func.count())
        .group_by(Invitation.status, past_deadline)
    ).all()
    counts = {status: 0 for status in InvitationStatus}
    for status, past, count in rows:
        counts[InvitationStatus.EXPIRED if status in _OPEN and past else status] += count
    return counts


def responses_since(since: datetime) -> int:
    """How many responses were submitted from `since` on."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Response).where(Response.submitted_at >= since))


def open_exception_count() -> int:
    """Flagged answers whose follow-up is not closed (8.4)."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(ReviewException)
        .where(ReviewException.status != ExceptionStatus.CLOSED)
    )


def home_counts(now: datetime) -> dict:
    """The figures on the console's home page."""
    return {
        "invitations": invitation_counts(now),
        "responses_7d": responses_since(now - timedelta(days=7)),
        "open_exceptions": open_exception_count(),
    }


def invitations_query(now: datetime, status: Optional[InvitationStatus] = None,
                      questionnaire_key: Optional[str] = None, review_type: Optional[ReviewType] = None,
                      client_id: Optional[int] = None) -> sa.Select:
    """Invitations, newest first, narrowed by the filters that are given."""
    query = sa.select(Invitation).order_by(Invitation.created_at.desc(), Invitation.id.desc())
    if status is not None:
        query = query.where(effective_status_filter(status, now))
    if questionnaire_key:
        query = query.join(QuestionnaireVersion, Invitation.version_id == QuestionnaireVersion.id) \
            .join(Questionnaire).where(Questionnaire.key == questionnaire_key)
    if review_type is not None:
        query = query.where(Invitation.review_type == review_type)
    if client_id is not None:
        query = query.where(Invitation.client_id == client_id)
    return query.options(joinedload(Invitation.client),
                         joinedload(Invitation.version).joinedload(QuestionnaireVersion.questionnaire))


def clients_query(account_prefix: str = "") -> sa.Select:
    """Clients ordered by account, those whose account starts with the prefix when one is given."""
    query = sa.select(Client).order_by(Client.account)
    if account_prefix:
        query = query.where(Client.account.startswith(account_prefix, autoescape=True))
    return query


def invitation_counts_by_client(client_ids: list[int]) -> dict[int, int]:
    """Number of invitations of each listed client."""
    if not client_ids:
        return {}
    rows = db.session.execute(
        sa.select(Invitation.client_id, sa.func.count()).where(Invitation.client_id.in_(client_ids))
        .group_by(Invitation.client_id)
    ).all()
    return dict(rows)


def identity_attempt_counts(invitation_id: int) -> tuple[int, int]:
    """(all tries, wrong tries) at the identity question of an invitation."""
    total, failed = db.session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(IdentityAttempt.succeeded.is_(False)))
        .where(IdentityAttempt.invitation_id == invitation_id)
    ).one()
    return total, failed


def open_invitations_of_version(version_id: int, now: datetime) -> int:
    """Invitations pinned to a version that can still be answered (retiring closes them)."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Invitation).where(
            Invitation.version_id == version_id, Invitation.status.in_(_OPEN), Invitation.expires_at > now)
    )


def sendable_versions() -> list[QuestionnaireVersion]:
    """Every version that is not retired, by key then newest first: what an invitation may pin."""
    return list(db.session.scalars(
        sa.select(QuestionnaireVersion).join(Questionnaire)
        .where(QuestionnaireVersion.retired_at.is_(None))
        .order_by(Questionnaire.key, QuestionnaireVersion.number.desc())
        .options(contains_eager(QuestionnaireVersion.questionnaire))
    ))


def needed_placeholders(version: QuestionnaireVersion) -> list[str]:
    """Placeholders an invitation for this version must be given (the auto-filled ones excluded)."""
    return sorted(placeholders_in(version.definition) - AUTO_FILLED)


def exception_rows(response_id: int) -> list[ReviewException]:
    """The exceptions recorded for one response."""
    return list(db.session.scalars(
        sa.select(ReviewException).where(ReviewException.response_id == response_id).order_by(ReviewException.id)
    ))
