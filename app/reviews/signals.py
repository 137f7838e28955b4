"""Signals other areas subscribe to, so the core does not import them (outbox, campaigns)."""
from __future__ import annotations

import functools
from typing import Optional

import sqlalchemy as sa
from blinker import Namespace

_signals = Namespace()

# Sent inside the submitting transaction, after the response, registration and exceptions are
# flushed: receivers write their own rows (e.g. an outbox event) in the same transaction, so a
# crash loses either everything or nothing. Arguments: sender=Response, invitation=Invitation,
# linked={name: row id or None} (see register_invitation_link).
response_stored = _signals.signal("response-stored")

_invitation_links: dict[str, tuple[sa.ColumnElement, sa.ColumnElement]] = {}


def register_invitation_link(name: str, row_id: sa.ColumnElement, invitation_id: sa.ColumnElement) -> None:
    """Declare another area's rows that belong to at most one invitation each (a unique invitation_id).

    When a response is stored, one statement looks up every declared link of the invitation and
    response_stored carries the ids as `linked`: a receiver whose area has no row for this
    invitation returns without a query of its own (three lookups were three round trips on every
    submit; docs/perf-client.md).
    """
    _invitation_links[name] = (row_id, invitation_id)
    _links_statement.cache_clear()


@functools.cache
def _links_statement() -> Optional[sa.Select]:
    """Built once per process (a statement's cache key is memoized on the object)."""
    if not _invitation_links:
        return None
    invitation = sa.bindparam("invitation_id")
    return sa.select(*(sa.select(row_id).where(owner == invitation).scalar_subquery().label(name)
                       for name, (row_id, owner) in _invitation_links.items()))


def linked_rows(session, invitation_id: int) -> dict[str, Optional[int]]:
    """The id of each declared area's row for this invitation (None where it has none), in one statement."""
    statement = _links_statement()
    if statement is None:
        return {}
    return dict(session.execute(statement, {"invitation_id": invitation_id}).one()._mapping)


def linked_row(session, linked: dict, name: str, model):
    """The `model` row that `linked` (from response_stored) names under `name`, or None: no query
    when this invitation has none."""
    row_id = linked.get(name)
    return session.get(model, row_id) if row_id is not None else None
