"""Keying returned paper questionnaires: double entry by two staff members, differences resolved,
then one response stored with channel `letter` and the keying staff (5.2.3 paper questionnaires).

The client's servicing staff may neither key nor verify (6.3: a reviewer never reviews a client
he or she serves). A letter whose invitation was answered online first is refused as a
duplicate and kept for staff to see.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Mapping, Optional

import sqlalchemy as sa

from app.audit.service import record
from app.auth.models import StaffUser
from app.db_types import utcnow
from app.extensions import db
from app.letters.config import setting
from app.letters.models import Letter, LetterEntry, LetterScan, LetterStatus
from app.letters.service import LetterError, get_letter
from app.phrases import Bilingual, Phrase, phrase
from app.reviews import service as reviews
from app.reviews.models import Channel, InvitationStatus
from questionnaires.answers import validate_answers
from questionnaires.placeholders import localize

KEYABLE = ("single_choice", "yes_no", "multiple_choice", "text", "number", "date", "rating", "consent")
_CONSENT_TYPED = {"1", "y", "yes", "x", "√", "v", "是", "同意"}
_YES_NO_TYPED = {"y": "yes", "yes": "yes", "是": "yes", "n": "no", "no": "no", "否": "no"}


@dataclass(frozen=True)
class Difference:
    """A question the two entries answered differently."""

    question_id: str
    number: int
    text: str
    first: object
    second: object


def keyable_questions(letter: Letter, lang: str = "zh-CN") -> list[dict]:
    """The questions staff key, localized and numbered as on paper (notices are not keyed)."""
    definition = localize(letter.invitation.version.definition, lang, reviews.render_context(letter.invitation))
    questions, n = [], 0
    for question in definition["questions"]:
        if question["type"] == "notice":
            continue
        n += 1
        questions.append({**question, "number": n})
    return questions


def load_for_keying(code: str, user: StaffUser) -> Letter:
    """The letter staff asked for, if this user may key it now; LetterError with a clear message otherwise."""
    code = (code or "").strip()
    if not code:
        raise LetterError("letter_id", phrase("enter the letter id printed at the foot of each page"))
    letter = get_letter(code)
    if letter is None:
        raise LetterError("letter_id", phrase("no letter has the id %(code)r; check the id at the foot of the page",
                                              code=code), status=404)
    if letter.status is LetterStatus.COMPLETED:
        raise LetterError("letter_id", phrase("letter %(code)s was already keyed and verified", code=letter.code),
                          status=409)
    if letter.status is LetterStatus.DUPLICATE:
        raise LetterError("letter_id", phrase("letter %(code)s was refused as a duplicate: %(note)s",
                                              code=letter.code, note=letter.duplicate_note), status=409)
    if letter.status is LetterStatus.QUEUED:
        raise LetterError("letter_id", phrase("letter %(code)s has not been printed yet", code=letter.code),
                          status=409)
    client = letter.invitation.client
    # 6.3: a reviewer never reviews a client he or she serves.
    if user.staff_code and client.servicing_staff_code and user.staff_code == client.servicing_staff_code:
        raise LetterError("letter_id", phrase("you serve this client, so you may not key or verify its answers (6.3)"),
                          status=403)
    first = _entry(letter, 1)
    if first is not None and first.staff_id == user.id and letter.status is not LetterStatus.PRINTED:
        raise LetterError("letter_id", phrase("a second staff member must verify what you keyed (double entry)"),
                          status=409)
    return letter


def _entry(letter: Letter, round_: int) -> Optional[LetterEntry]:
    return next((e for e in letter.entries if e.round == round_), None)


def next_round(letter: Letter) -> int:
    """1 for the first entry, 2 for the verifying entry, 3 to resolve differences."""
    return {LetterStatus.PRINTED: 1, LetterStatus.FIRST_ENTRY: 2, LetterStatus.DIFFERENCES: 3}[letter.status]


def answer_refusal(number, reasons: dict) -> Phrase:
    """The refusal "question 3: <reason>", whose reason the answer checker gives in both languages."""
    return phrase("question %(number)s: %(reason)s", number=number, reason=Bilingual(reasons))


def _choice(question: dict, token: str) -> str:
    """The option a typed token names; ValueError(phrase naming the question) otherwise."""
    options = question.get("options") or [{"value": "yes"}, {"value": "no"}]
    if token.isascii() and token.isdigit():  # str.isdigit also takes "²", which int() refuses
        index = int(token)
        if not 1 <= index <= len(options):
            raise ValueError(phrase("question %(number)s: there is no option %(index)d (1–%(count)d)",
                                    number=question["number"], index=index, count=len(options)))
        return options[index - 1]["value"]
    if question["type"] == "yes_no" and token.lower() in _YES_NO_TYPED:
        return _YES_NO_TYPED[token.lower()]
    raise ValueError(phrase("question %(number)s: type the option's number", number=question["number"]))


def parse_typed(questions: list[dict], typed: Mapping[str, str]) -> tuple[dict, dict[str, str]]:
    """What staff typed (option numbers, text) as raw answers; errors by question id."""
    raw, errors = {}, {}
    for question in questions:
        text = unicodedata.normalize("NFKC", str(typed.get(question["id"]) or "")).strip()
        if not text:
            continue
        try:
            kind = question["type"]
            if kind in ("single_choice", "yes_no"):
                raw[question["id"]] = _choice(question, text)
            elif kind == "multiple_choice":
                tokens = re.findall(r"\d", text) if re.fullmatch(r"[\d\s,，、]+", text) else text.split()
                raw[question["id"]] = [_choice(question, token) for token in dict.fromkeys(tokens)]
            elif kind == "consent":
                if text.lower() not in _CONSENT_TYPED:
                    raise ValueError(phrase("question %(number)s: type 1 when the box is ticked, leave empty when not",
                                            number=question["number"]))
                raw[question["id"]] = "y"
            elif kind == "date" and re.fullmatch(r"\d{8}", text):
                raw[question["id"]] = f"{text[:4]}-{text[4:6]}-{text[6:]}"
            else:
                raw[question["id"]] = text
        except ValueError as exc:
            errors[question["id"]] = exc.args[0]
    return raw, errors


def check_answers(letter: Letter, questions: list[dict], typed: Mapping[str, str]) -> dict:
    """Clean answers for the pinned version; LetterError naming the first bad question otherwise."""
    raw, errors = parse_typed(questions, typed)
    answers, answer_errors = validate_answers(letter.invitation.version.definition, raw)
    numbers = {q["id"]: q["number"] for q in questions}
    for error in answer_errors:
        errors.setdefault(error.question_id, answer_refusal(numbers.get(error.question_id, "?"), error.message))
    if errors:
        first = next(q["id"] for q in questions if q["id"] in errors)
        exc = LetterError(first, errors[first])
        exc.errors = errors
        raise exc
    return answers


SCAN_TYPES = {b"%PDF-": "application/pdf", b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg",
              b"II*\x00": "image/tiff", b"MM\x00*": "image/tiff"}


def scan_type(data: bytes) -> Optional[str]:
    """The media type of a scan from its first bytes (PDF, PNG, JPEG, TIFF), None for anything else."""
    return next((kind for magic, kind in SCAN_TYPES.items() if data.startswith(magic)), None)


def check_scan(filename: str, data: bytes) -> str:
    """The scan's media type; LetterError(field='scan') when it is not a PDF or an image, or too large."""
    if len(data) > setting("LETTER_SCAN_MAX_BYTES"):
        raise LetterError("scan", phrase("the scan is larger than %(mb)d MB",
                                         mb=setting("LETTER_SCAN_MAX_BYTES") // 1048576))
    kind = scan_type(data)
    if kind is None:
        if filename:
            raise LetterError("scan", phrase("%(name)s is not a PDF or an image (PNG, JPEG, TIFF)", name=filename))
        raise LetterError("scan", phrase("the file is not a PDF or an image (PNG, JPEG, TIFF)"))
    return kind


def key_entry(letter: Letter, user: StaffUser, typed: Mapping[str, str],
              scan: Optional[tuple[str, bytes]] = None) -> Letter:
    """Store one keying round; the second round completes the letter when both entries agree.

    Validates everything first: bad input changes nothing.
    """
    round_ = next_round(letter)
    if round_ == 3:
        raise LetterError("letter_id",
                          phrase("both entries differ: resolve the differences on the verification screen"), status=409)
    questions = keyable_questions(letter)
    answers = check_answers(letter, questions, typed)
    scan_kind = check_scan(*scan) if scan and scan[1] else None
    first = _entry(letter, 1)
    if round_ == 2 and first.staff_id == user.id:
        raise LetterError("letter_id", phrase("a second staff member must verify what you keyed (double entry)"),
                          status=409)
    entry = LetterEntry(letter=letter, round=round_, typed={k: str(v) for k, v in typed.items() if k in answers or v},
                        answers=answers, staff_id=user.id, staff_username=user.username)
    db.session.add(entry)
    if scan_kind:
        filename, data = scan
        db.session.add(LetterScan(letter_id=letter.id, filename=(filename or "scan")[:200], content_type=scan_kind,
                                  sha256=hashlib.sha256(data).hexdigest(), data=data, uploaded_by=user.username))
    db.session.flush()
    record(f"staff:{user.username}", "letter.key", "letter", letter.id,
           {"code": letter.code, "round": round_, "scan": bool(scan_kind)})
    if reviews.stored_response(letter.invitation_id) is not None:
        return mark_duplicate(letter, user)  # answered online first: the paper is kept but refused
    if round_ == 1:
        letter.status = LetterStatus.FIRST_ENTRY
        db.session.flush()
        return letter
    if differences(letter):
        letter.status = LetterStatus.DIFFERENCES
        db.session.flush()
        return letter
    return _complete(letter, answers, verifier=user)


def differences(letter: Letter) -> list[Difference]:
    """The questions the first and second entries answered differently."""
    first, second = _entry(letter, 1), _entry(letter, 2)
    if first is None or second is None:
        return []
    return [Difference(q["id"], q["number"], q["text"], first.answers.get(q["id"]), second.answers.get(q["id"]))
            for q in keyable_questions(letter)
            if first.answers.get(q["id"]) != second.answers.get(q["id"])]


def resolve(letter: Letter, user: StaffUser, typed: Mapping[str, str]) -> Letter:
    """The verifier settles the differences against the paper: the agreed answers plus the typed ones."""
    if letter.status is not LetterStatus.DIFFERENCES:
        raise LetterError("letter_id", phrase("letter %(code)s has no differences to resolve", code=letter.code),
                          status=409)
    first = _entry(letter, 1)
    if first.staff_id == user.id:
        raise LetterError("letter_id", phrase("the staff member who keyed first may not resolve the differences"),
                          status=403)
    questions = keyable_questions(letter)
    disputed = {d.question_id for d in differences(letter)}
    merged = {q["id"]: first.typed.get(q["id"], "") for q in questions if q["id"] not in disputed}
    merged.update({qid: typed.get(qid, "") for qid in disputed})
    answers = check_answers(letter, questions, merged)
    db.session.add(LetterEntry(letter=letter, round=3, typed={k: str(v) for k, v in merged.items() if v},
                               answers=answers, staff_id=user.id, staff_username=user.username))
    db.session.flush()
    record(f"staff:{user.username}", "letter.resolve", "letter", letter.id,
           {"code": letter.code, "questions": sorted(disputed)})
    return _complete(letter, answers, verifier=user)


def _complete(letter: Letter, answers: dict, verifier: StaffUser) -> Letter:
    """Store the response (channel letter, keyed by the first entry's staff), or record a duplicate."""
    invitation = letter.invitation
    first = _entry(letter, 1)
    stored = reviews.stored_response(invitation.id)
    if stored is not None or invitation.effective_status(utcnow()) is not InvitationStatus.PENDING \
            and invitation.effective_status(utcnow()) is not InvitationStatus.OPENED:
        return mark_duplicate(letter, verifier)
    response, created = reviews.submit_response(
        invitation, answers, lang=setting("LETTER_LANG"), actor=f"staff:{verifier.username}",
        entered_by=first.staff_username, channel=Channel.LETTER)
    if not created:
        return mark_duplicate(letter, verifier)
    letter.status = LetterStatus.COMPLETED
    letter.response_id = response.id
    letter.completed_at = utcnow()
    from app.letters.archive import note_letter_archived

    note_letter_archived(response, letter, first.staff_username, verifier)
    db.session.flush()
    return letter


def mark_duplicate(letter: Letter, user: StaffUser) -> Letter:
    """The invitation was completed another way first: keep the paper answers, refuse them, tell staff."""
    invitation = letter.invitation
    stored = reviews.stored_response(invitation.id)
    if stored is not None:
        note = (f"answered via {stored.channel.value} on {stored.submitted_at:%Y-%m-%d %H:%M} UTC, "
                f"receipt {stored.receipt_no}")
    else:
        note = f"invitation is {invitation.effective_status(utcnow()).value}"
    letter.status = LetterStatus.DUPLICATE
    letter.duplicate_note = note[:300]
    db.session.flush()
    record(f"staff:{user.username}", "letter.duplicate", "letter", letter.id, {"code": letter.code, "note": note})
    return letter


def duplicates() -> list[Letter]:
    """Letters refused as duplicates, newest first, for staff to see."""
    return list(db.session.scalars(
        sa.select(Letter).where(Letter.status == LetterStatus.DUPLICATE).order_by(Letter.id.desc())))
