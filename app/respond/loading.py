"""Loading an invitation for the client's pages in one statement, with its definition cached.

A published version never changes (its content hash names its content), so the decoded definition
is kept per process, keyed by (version id, content hash): the client's six requests decode it once
per process instead of once per request, and the version row is read without its two large
columns (definition, source). docs/perf-client.md has the measurements.
"""
from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.definitions.models import QuestionnaireVersion
from app.extensions import db
from app.locking import remember_locked
from app.reviews.models import Invitation

DEFINITION_CACHE_SIZE = 64  # versions in use at once; a definition is some tens of kB decoded
_definitions: OrderedDict[tuple[int, str], dict] = OrderedDict()
_lock = threading.Lock()  # gthread workers serve several requests per process at once


def cached_definition(version_id: int, content_hash: str) -> dict:
    """The decoded definition of a version, from the per-process cache or read once.

    The key holds the content hash as well as the id: a database rebuilt with other content under
    the same id (tests, a restore) never gets the old content. The dict is shared between
    requests: callers read it and never change it (everything that derives from it copies).
    """
    key = (version_id, content_hash)
    with _lock:
        found = _definitions.get(key)
        if found is not None:
            _definitions.move_to_end(key)
            return found
    row = db.session.execute(sa.select(QuestionnaireVersion.definition, QuestionnaireVersion.content_hash)
                             .where(QuestionnaireVersion.id == version_id)).one()
    if row.content_hash != content_hash:  # cannot happen for a published version; never cache a mix
        return row.definition
    with _lock:
        _definitions[key] = row.definition
        while len(_definitions) > DEFINITION_CACHE_SIZE:
            _definitions.popitem(last=False)  # least recently used first
    return row.definition


def clear_definition_cache() -> None:
    """Forget every cached definition (tests)."""
    with _lock:
        _definitions.clear()


def load_invitation(public_id: str, *, with_response: bool = False, for_update: bool = False,
                    ) -> Optional[Invitation]:
    """The invitation of a signed link with its client, version and questionnaire, in one statement.

    The version's definition comes from the per-process cache (set as its loaded value, so
    everything that reads `invitation.version.definition` — the service, the templates, other
    areas' receivers — uses it without a query or a decode); its source text is not read at all.

    for_update (a POST that writes): on PostgreSQL the same statement locks the invitation's row
    (FOR UPDATE OF invitations), so the service's lock_for_update needs no second read — one round
    trip less on every submit. SQLite has no row locks; there the service locks as before.
    """
    lock = for_update and db.session.get_bind().dialect.name == "postgresql"
    invitation = db.session.scalars(_statement(with_response, lock), {"public_id": public_id}).one_or_none()
    if invitation is not None:
        attach_definition(invitation.version)
        if lock:
            remember_locked(invitation)
    return invitation


@functools.cache
def _statement(with_response: bool, for_update: bool = False) -> sa.Select:
    """Built once per process: SQLAlchemy memoizes a statement object's cache key, and the key of a
    SELECT with loader options is costly to compute (about a third of this query's CPU time)."""
    version = joinedload(Invitation.version)
    query = sa.select(Invitation).where(Invitation.public_id == sa.bindparam("public_id")).options(
        joinedload(Invitation.client),
        version.defer(QuestionnaireVersion.definition).defer(QuestionnaireVersion.source),
        version.joinedload(QuestionnaireVersion.questionnaire),
    )
    if with_response:  # the receipt: the response as stored now, never a relation cached earlier
        query = query.options(joinedload(Invitation.response)).execution_options(populate_existing=True)
    if for_update:  # the row as the previous writer committed it, locked until this transaction ends
        query = query.with_for_update(of=Invitation).execution_options(populate_existing=True)
    return query


def attach_definition(version: QuestionnaireVersion) -> None:
    """Give a version whose definition was not read its cached definition, as if loaded."""
    if "definition" not in version.__dict__:
        set_committed_value(version, "definition", cached_definition(version.id, version.content_hash))
