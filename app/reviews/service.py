"""Invitations, identity checks, drafts and the one-transaction submit."""
from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Mapping, Optional

import sqlalchemy as sa
from flask import current_app, url_for
from sqlalchemy.orm.attributes import set_committed_value

from app.audit.service import record
from app.clients.models import Client
from app.clients.service import get_client_by_account
from app.db_types import utcnow
from app.definitions.models import QuestionnaireVersion, ReviewType
from app.definitions.service import get_questionnaire, get_version
from app.extensions import db
from app.locking import lock_for_update
from app.phrases import phrase
from app.reviews.models import (
    Channel, CompletionStatus, IdentityAttempt, Invitation, InvitationStatus, ReviewException,
    ReviewRegistration, Response, Severity,
)
from app.reviews.signals import linked_rows, response_stored
from delivery.links import LinkSigner, new_public_id, new_short_code
from questionnaires.answers import AnswerError, clean_partial, flags_for, validate_answers
from questionnaires.placeholders import missing_placeholders, placeholders_in

RECEIPT_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


class InvalidRequest(ValueError):
    """A request that cannot be carried out; names the field and the reason (422)."""

    def __init__(self, field: str, message: str, **extra):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.extra = extra


class AnswersInvalid(ValueError):
    """Submitted answers do not fit the pinned version; nothing was stored."""

    def __init__(self, errors: list[AnswerError]):
        super().__init__(f"{len(errors)} answer(s) invalid")
        self.errors = errors


def link_signer() -> LinkSigner:
    """The signer for invitation links with the app's keys (newest signs, all verify)."""
    return LinkSigner(current_app.config["SECRET_KEYS"],
                      current_app.config["LINK_MAX_AGE_DAYS"] * 86400)


def public_base_url() -> str:
    """PUBLIC_BASE_URL without a trailing slash: where every link sent to a client points."""
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/")


def public_url(endpoint: str, **values) -> str:
    """A client-facing URL on PUBLIC_BASE_URL (links in SMS, email, letters and the gate)."""
    # _external=False: outside a request, with SERVER_NAME set, url_for would add a scheme and host.
    return public_base_url() + url_for(endpoint, _external=False, **values)


def invitation_url(invitation: Invitation) -> str:
    """The signed link a client opens."""
    return public_url("respond.form", token=link_signer().sign(invitation.public_id))


def short_url(invitation: Invitation) -> str:
    """A short link fit for an SMS; it redirects to the signed link."""
    return public_url("respond.short", code=invitation.short_code)


def auto_context(client: Client) -> dict:
    """Placeholder values that come from the client record and configuration."""
    return {
        "client_name": client.name,
        "client_risk_level": client.risk_level.value if client.risk_level else None,
        "firm_name": current_app.config["FIRM_NAME"],
        "service_phone": current_app.config["SERVICE_PHONE"],
    }


def render_context(invitation: Invitation) -> dict:
    """Everything the pinned version's placeholders are filled from."""
    return {**auto_context(invitation.client), **(invitation.context or {})}


@dataclass(frozen=True)
class InvitationRequest:
    """What a caller asks for when inviting a client (API or console)."""

    client_account: str
    questionnaire_key: str
    version_number: Optional[int] = None
    review_type: Optional[str] = None
    channel: str = "link"
    context: Optional[dict] = None
    expires_at: Optional[datetime] = None
    opens_at: Optional[datetime] = None


def resolve_version(key: str, number: Optional[int]) -> QuestionnaireVersion:
    """The version to pin: the one asked for, or the newest not retired; 422 errors otherwise."""
    if get_questionnaire(key) is None:
        raise InvalidRequest("questionnaire", phrase("unknown questionnaire '%(key)s'", key=key))
    version = get_version(key, number)
    if version is None:
        if number is not None:
            raise InvalidRequest("questionnaire", phrase("questionnaire '%(key)s' has no version %(number)d",
                                                         key=key, number=number))
        raise InvalidRequest("questionnaire", phrase(
            "questionnaire '%(key)s' has no published version that is not retired", key=key))
    if version.is_retired:
        raise InvalidRequest("questionnaire", phrase("%(key)s v%(number)d is retired", key=key, number=version.number))
    return version


_PLACEHOLDERS_OF: dict[str, dict] = {}


def _placeholder_definition(version: QuestionnaireVersion) -> dict:
    """A published version never changes (content_hash), so the placeholder names of its definition
    are found once; they are kept as a one-text definition that missing_placeholders checks exactly
    as it checks the full one (same names, same rule for a missing value)."""
    found = _PLACEHOLDERS_OF.get(version.content_hash)
    if found is None:
        names = sorted(placeholders_in(version.definition))
        found = {"names": {"zh-CN": "".join(f"{{{n}}}" for n in names), "en": ""}}
        if len(_PLACEHOLDERS_OF) > 256:
            _PLACEHOLDERS_OF.clear()
        _PLACEHOLDERS_OF[version.content_hash] = found
    return found


def _checked_fields(req: InvitationRequest, client: Optional[Client], version: QuestionnaireVersion,
                    now: datetime) -> dict:
    """The one validation of a request (single and batch creation share it): the row's values, or
    InvalidRequest naming the field. A missing placeholder is refused so a client never sees a blank."""
    if client is None:
        raise InvalidRequest("client_account", phrase("unknown client account '%(account)s'",
                                                      account=req.client_account))
    try:
        review_type = ReviewType(req.review_type or version.questionnaire.review_type.value)
    except ValueError:
        raise InvalidRequest("review_type", phrase("unknown review type '%(value)s'", value=req.review_type)) from None
    try:
        channel = Channel(req.channel)
    except ValueError:
        raise InvalidRequest("channel", phrase("unknown channel '%(channel)s'", channel=req.channel)) from None
    context = {k: v for k, v in (req.context or {}).items()}
    if any(not isinstance(v, (str, int, float)) for v in context.values()):
        raise InvalidRequest("context", phrase("context values must be strings or numbers"))
    missing = missing_placeholders(_placeholder_definition(version), {**auto_context(client), **context})
    if missing:
        raise InvalidRequest("context", phrase("missing values for: %(names)s", names=", ".join(missing)), missing=missing)
    expires_at = req.expires_at or now + timedelta(days=current_app.config["DEFAULT_INVITATION_DAYS"])
    if expires_at <= now:
        raise InvalidRequest("expires_at", phrase("must be in the future"))
    if req.opens_at is not None and req.opens_at >= expires_at:
        raise InvalidRequest("opens_at", phrase("must be before expires_at"))
    return {"client_id": client.id, "version_id": version.id, "review_type": review_type, "channel": channel,
            "context": context, "expires_at": expires_at, "opens_at": req.opens_at}


def create_invitation(req: InvitationRequest, actor: str) -> Invitation:
    """Pin a version for a client; refuse missing placeholders so a client never sees a blank."""
    client = get_client_by_account(req.client_account)
    if client is None:
        raise InvalidRequest("client_account", phrase("unknown client account '%(account)s'",
                                                      account=req.client_account))
    version = resolve_version(req.questionnaire_key, req.version_number)
    fields = _checked_fields(req, client, version, utcnow())
    invitation = Invitation(public_id=new_public_id(), short_code=new_short_code(), created_by=actor, **fields)
    db.session.add(invitation)
    db.session.flush()
    record(actor, "invitation.create", "invitation", invitation.id,
           {"client": client.account, "questionnaire": version.label, "channel": fields["channel"].value})
    return invitation


def create_invitations(requests: list[InvitationRequest], actor: str) -> list[Invitation]:
    """Create many invitations at once (campaigns): each request is validated exactly as
    create_invitation validates it; if any is bad, nothing is written and the InvalidRequest names
    it (`extra["index"]`, 0-based, and "request N" in its text). Clients and versions are loaded
    with one query each (per distinct questionnaire), the rows inserted in bulk, and ONE audit
    entry lists the batch's invitation ids. Returns the invitations in the order of the requests."""
    if not requests:
        return []
    now = utcnow()
    accounts = sorted({req.client_account for req in requests})
    clients: dict[str, Client] = {}
    for chunk in range(0, len(accounts), 500):
        clients.update((c.account, c) for c in db.session.scalars(
            sa.select(Client).where(Client.account.in_(accounts[chunk:chunk + 500]))))
    versions: dict[tuple, object] = {}
    rows = []
    for index, req in enumerate(requests):
        try:
            client = clients.get(req.client_account)
            if client is None:
                raise InvalidRequest("client_account", phrase("unknown client account '%(account)s'",
                                                              account=req.client_account))
            key = (req.questionnaire_key, req.version_number)
            if key not in versions:
                try:
                    versions[key] = resolve_version(*key)
                except InvalidRequest as exc:
                    versions[key] = exc
            if isinstance(versions[key], InvalidRequest):
                raise versions[key]
            fields = _checked_fields(req, client, versions[key], now)
        except InvalidRequest as exc:
            named = InvalidRequest(exc.field, exc.message, **{**exc.extra, "index": index})
            named.args = (f"request {index}: {exc.field}: {exc.message}",)
            raise named from None
        rows.append({"public_id": new_public_id(), "short_code": new_short_code(), "created_by": actor,
                     "created_at": now, **fields})
    created = {i.public_id: i for i in db.session.scalars(sa.insert(Invitation).returning(Invitation), rows)}
    invitations = [created[row["public_id"]] for row in rows]  # in request order, matched by the unique id
    record(actor, "invitation.create_batch", "invitation", None, {
        "count": len(invitations), "ids": [i.id for i in invitations],
        "questionnaires": sorted({v.label for v in versions.values() if not isinstance(v, InvalidRequest)}),
        "channels": sorted({row["channel"].value for row in rows})})
    return invitations


def find_by_public_id(public_id: str) -> Optional[Invitation]:
    """The invitation a signed link points to."""
    return db.session.scalars(sa.select(Invitation).where(Invitation.public_id == public_id)).one_or_none()


def find_by_short_code(code: str) -> Optional[Invitation]:
    """The invitation a short link points to."""
    return db.session.scalars(sa.select(Invitation).where(Invitation.short_code == code)).one_or_none()


# The client's first opening and each identity try write one row on every client's path. These are
# Core statements built once, not the unit of work, whose flush of one instance cost more than the
# statement: the identity POST takes 0.77-0.80 and the form GET 0.88-0.89 of the CPU it took
# (benchmarks/bench_path_writes.py; docs/perf-client.md, nineteenth session).
_MARK_OPENED = sa.update(Invitation.__table__).where(
    Invitation.__table__.c.id == sa.bindparam("invitation_id"),
    Invitation.__table__.c.status == InvitationStatus.PENDING,
).values(status=InvitationStatus.OPENED, first_opened_at=sa.bindparam("opened_at"))
_LOG_ATTEMPT = sa.insert(IdentityAttempt.__table__)


def mark_opened(invitation: Invitation) -> bool:
    """Remember the first time the client opened the link; True when that was now (a change to commit)."""
    if invitation.status is not InvitationStatus.PENDING:
        return False
    now = utcnow()
    if db.session.execute(_MARK_OPENED, {"invitation_id": invitation.id, "opened_at": now}).rowcount != 1:
        return False  # no longer pending in the database (cancelled meanwhile, say): nothing written
    # The row now holds these values: the instance says so without being read again.
    set_committed_value(invitation, "status", InvitationStatus.OPENED)
    set_committed_value(invitation, "first_opened_at", now)
    return True


def _identity_matches(invitation: Invitation, method: str, given: str) -> bool:
    client = invitation.client
    # NFKC: a Chinese keyboard may type full-width "１２３Ｘ" or "１９６０－０５－１２"; they are the same answer.
    given = unicodedata.normalize("NFKC", given or "").strip()
    if method == "id_last4":
        # Compared as bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
        return bool(client.id_last4) and secrets.compare_digest(given.upper().encode(),
                                                                client.id_last4.upper().encode())
    if method == "birth_date":
        try:
            answered = date.fromisoformat(given.replace("/", "-")) if "-" in given or "/" in given else \
                datetime.strptime(given, "%Y%m%d").date()
        except ValueError:
            return False
        return client.birth_date is not None and answered == client.birth_date
    return True


def check_identity(invitation: Invitation, given: str, remote_addr: Optional[str]) -> bool:
    """Check the client's answer; log the try; five wrong tries lock the invitation for 30 minutes."""
    method = invitation.version.definition["identity_check"]
    ok = _identity_matches(invitation, method, given)
    db.session.execute(_LOG_ATTEMPT, {"invitation_id": invitation.id, "succeeded": ok, "remote_addr": remote_addr})
    if ok:
        if invitation.identity_failures:  # assigned only when it changes: an unchanged row needs no flush
            invitation.identity_failures = 0
    else:
        invitation.identity_failures += 1
        if invitation.identity_failures >= current_app.config["IDENTITY_MAX_FAILURES"]:
            invitation.locked_until = utcnow() + timedelta(minutes=current_app.config["IDENTITY_LOCK_MINUTES"])
            invitation.identity_failures = 0
            record("client", "invitation.identity_locked", "invitation", invitation.id,
                   {"minutes": current_app.config["IDENTITY_LOCK_MINUTES"]}, remote_addr)
    db.session.flush()
    return ok


def save_draft(invitation: Invitation, raw: Mapping[str, object]) -> None:
    """Keep the answers given so far, so the client can come back before submitting."""
    if invitation.status is InvitationStatus.COMPLETED:
        return
    invitation.draft_answers = clean_partial(invitation.version.definition, raw)
    invitation.draft_saved_at = utcnow()
    db.session.flush()


def stored_response(invitation_id: int) -> Optional[Response]:
    """The response stored for an invitation, read from the database (not a cached relation)."""
    return db.session.scalars(
        sa.select(Response).where(Response.invitation_id == invitation_id).execution_options(populate_existing=True)
    ).one_or_none()


def flagged_answers(response_id: int) -> list[dict]:
    """The response's flagged answers, as the invitation API and the mandatory result show them."""
    flags = db.session.scalars(
        sa.select(ReviewException).where(ReviewException.response_id == response_id).order_by(ReviewException.id)
    )
    return [{"question_id": f.question_id, "answer": f.answer, "severity": f.severity.value, "label": f.label}
            for f in flags]


def _receipt_number(now: datetime) -> str:
    return "HF" + now.strftime("%Y%m%d") + "-" + "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(6))


def submit_response(invitation: Invitation, raw: Mapping[str, object], lang: str,
                    actor: str = "client", entered_by: Optional[str] = None,
                    channel: Optional[Channel] = None,
                    remote_addr: Optional[str] = None) -> tuple[Response, bool]:
    """Validate and store answers against the pinned version, all in one transaction.

    Returns (response, created). A second submit (two tabs, a replayed POST) returns the stored
    response and changes nothing.

    The write transaction is kept short (SQLite has one writer at a time): the answers are checked
    against the pinned, immutable version BEFORE the invitation is locked, and the errors are
    raised only after the lock has shown that no response is stored yet, as before.
    """
    version, client = invitation.version, invitation.client
    definition = version.definition
    answers, errors = validate_answers(definition, raw)
    flags = [] if errors else flags_for(definition, answers)
    locked = lock_for_update(Invitation, invitation.id)
    # The lock re-read the row and reset its relations; the pinned version and the client are
    # the same rows, so they are set again as loaded rather than read a second time.
    if locked.version_id == version.id and locked.client_id == client.id:
        set_committed_value(locked, "version", version)
        set_committed_value(locked, "client", client)
    now = utcnow()
    status = locked.effective_status(now)
    if status is not InvitationStatus.OPENED and status is not InvitationStatus.PENDING:
        # A stored response always completed its invitation in the same transaction, so only
        # an invitation that is no longer open can have one (the unique invitation_id is the backstop).
        existing = stored_response(invitation.id)
        if existing is not None:
            return existing, False
        reason = {InvitationStatus.CANCELLED: phrase("the invitation is cancelled"),
                  InvitationStatus.EXPIRED: phrase("the invitation is expired")}.get(status)
        raise InvalidRequest("invitation", reason or phrase("the invitation is %(status)s", status=status.value))
    if errors:
        raise AnswersInvalid(errors)
    response = Response(
        invitation_id=locked.id, version_id=locked.version_id, version_hash=version.content_hash,
        answers=answers, channel=channel or locked.channel, lang=lang, submitted_at=now,
        receipt_no=_receipt_number(now), flagged=bool(flags), entered_by=entered_by,
    )
    db.session.add(response)
    locked.status = InvitationStatus.COMPLETED
    locked.completed_at = now
    locked.draft_answers = None
    db.session.flush()
    # Both sides of the relation are known: set them as loaded instead of reading them back.
    set_committed_value(response, "invitation", locked)
    set_committed_value(locked, "response", response)
    db.session.add(ReviewRegistration(
        client_id=locked.client_id, invitation_id=locked.id, response_id=response.id,
        review_type=locked.review_type, channel=response.channel,
        completion_status=CompletionStatus.REVIEWED, registered_at=now,
    ))
    for flag in flags:
        db.session.add(ReviewException(
            response_id=response.id, client_id=locked.client_id, question_id=flag.question_id,
            answer=flag.value, severity=Severity(flag.severity),
            label_zh=flag.label["zh-CN"][:300], label_en=flag.label["en"][:300],
        ))
    db.session.flush()
    record(actor, "response.submit", "response", response.id,
           {"invitation": locked.public_id, "receipt": response.receipt_no,
            "version_hash": response.version_hash, "flags": len(flags),
            "channel": response.channel.value}, remote_addr)
    response_stored.send(response, invitation=locked, linked=linked_rows(db.session, locked.id))
    return response, True
