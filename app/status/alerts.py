"""Alerts: the status's problems e-mailed to the firm's operators, so that silence is not taken for health.

The status page (7.5.2) only helps someone who looks at it. Here the background worker checks every
minute, and `flask status --alert` from cron checks too (it still runs when the worker does not), and
each e-mails STATUS_ALERT_EMAILS when the set of problems changes, when everything is fine again,
and as a reminder every STATUS_ALERT_REPEAT_HOURS while something still needs doing.

What was sent is kept in the audit log, which makes the alerts a record too: `status.alerted`
(the problems' codes, written and committed before sending, so that a second checker running at the
same moment finds it and sends nothing) and, when some address did not take it,
`status.alert_failed` (how many did, and the reasons). An alert no address took counts as not sent:
it is tried again after the quiet period. No two alerts go out within STATUS_ALERT_QUIET_MINUTES,
so a problem that comes and goes (jobs kept waiting under a burst) cannot flood the mailboxes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Optional

from flask import current_app, render_template
from flask_babel import gettext, ngettext

from app.audit.service import lock_chain, record
from app.clients.service import EMAIL_RE
from app.db_types import utcnow
from app.extensions import db
from app.i18n import UI_LOCALES
from app.jobs import service as jobs
from app.jobs.models import Job
from app.status.messages import in_language, problem_messages
from app.status.service import AuditMark, SystemStatus, audit_marks, system_status
from delivery.email import SmtpSender, SmtpSettings, build_message, html_body
from delivery.outcome import Outcome, TemporaryFailure

ALERTED = "status.alerted"
ALERT_FAILED = "status.alert_failed"
ALERT_KIND = "status.alert"
# The newest alerts read back to find the last one that reached someone.
HISTORY_LOOKED_AT = 20


class AlertConfigError(ValueError):
    """STATUS_ALERT_EMAILS or STATUS_ALERT_LANG holds something that cannot be used."""


@dataclass(frozen=True)
class AlertHistory:
    """The alerts sent so far, as far as deciding the next one and showing the last one need."""

    last_attempt: Optional[AuditMark]  # the newest alert tried, whether or not it reached anyone
    last_failure: Optional[AuditMark]  # the addresses the newest alert did not reach, if any
    told: Optional[AuditMark]  # the newest alert at least one address took

    @property
    def last_attempt_at(self) -> Optional[datetime]:
        """When the newest alert was tried."""
        return self.last_attempt.at if self.last_attempt else None

    @property
    def told_codes(self) -> frozenset[str]:
        """The problems the operators were last told of (none when never told)."""
        return frozenset(self.told.details.get("codes", ())) if self.told else frozenset()


@dataclass(frozen=True)
class AlertSetting:
    """What the status page shows of the alerts: to how many addresses, a setting's error, the history."""

    recipients: int
    error: Optional[str]
    history: AlertHistory


@dataclass(frozen=True)
class AlertResult:
    """What one check did: the kind of alert sent (None: none was due), to how many, what failed."""

    kind: Optional[str]
    codes: list[str] = field(default_factory=list)
    accepted: int = 0
    failures: list[str] = field(default_factory=list)


def alert_recipients() -> list[str]:
    """The addresses in STATUS_ALERT_EMAILS (commas or semicolons); empty when alerts are off."""
    raw = current_app.config.get("STATUS_ALERT_EMAILS") or ""
    addresses = [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]
    for address in addresses:
        if not EMAIL_RE.match(address):
            raise AlertConfigError(f"STATUS_ALERT_EMAILS: {address!r} is not an e-mail address")
    return addresses


def alert_lang() -> str:
    """The language of the alerts (STATUS_ALERT_LANG: zh-CN, the default, or en)."""
    lang = current_app.config.get("STATUS_ALERT_LANG") or "zh-CN"
    if lang not in UI_LOCALES:
        raise AlertConfigError(f"STATUS_ALERT_LANG: {lang!r} is not one of {', '.join(UI_LOCALES)}")
    return lang


def alert_history() -> AlertHistory:
    """The newest alert tried, what it did not reach, and the newest one that reached at least one address."""
    attempts = audit_marks(ALERTED, HISTORY_LOOKED_AT)
    failures = {int(mark.details.get("alert_seq") or 0): mark for mark in audit_marks(ALERT_FAILED, HISTORY_LOOKED_AT)}
    told = next((mark for mark in attempts
                 if mark.seq not in failures or failures[mark.seq].details.get("accepted")), None)
    last = attempts[0] if attempts else None
    return AlertHistory(last, failures.get(last.seq) if last else None, told)


def alert_setting() -> AlertSetting:
    """The alerts as the status page shows them (a setting that cannot be used is shown, not raised)."""
    try:
        recipients, error = len(alert_recipients()), None
        alert_lang()
        smtp_settings()
    except AlertConfigError as exc:
        recipients, error = 0, str(exc)
    return AlertSetting(recipients, error, alert_history())


def alert_due(status: SystemStatus, history: AlertHistory) -> Optional[str]:
    """'problems', 'clear' or 'reminder' when an alert is due now, else None."""
    config = current_app.config
    if history.last_attempt_at and status.at - history.last_attempt_at < timedelta(
            minutes=config["STATUS_ALERT_QUIET_MINUTES"]):
        return None
    codes = frozenset(problem.code for problem in status.problems)
    if codes != history.told_codes:
        return "problems" if codes else "clear"
    if codes and status.at - history.told.at >= timedelta(hours=config["STATUS_ALERT_REPEAT_HOURS"]):
        return "reminder"
    return None


def _subject(kind: str, count: int) -> str:
    if kind == "clear":
        return gettext("Huifang system status: nothing needs doing any more")
    if kind == "reminder":
        return ngettext("Huifang system status, reminder: %(num)d problem still needs doing",
                        "Huifang system status, reminder: %(num)d problems still need doing", count)
    return ngettext("Huifang system status: %(num)d problem needs doing",
                    "Huifang system status: %(num)d problems need doing", count)


def alert_email(kind: str, status: SystemStatus, told: Optional[AuditMark], lang: str) -> tuple[str, str, str]:
    """The alert's subject, plain text and HTML, in lang."""
    config = current_app.config
    messages = problem_messages(status.problems, lang)
    link = (config["CONSOLE_BASE_URL"] or config["PUBLIC_BASE_URL"]).rstrip("/") + "/console/status"
    with in_language(lang):
        firm = config["FIRM_NAME"] if lang == "zh-CN" else config["FIRM_NAME_EN"]
        subject = f"[{firm}] {_subject(kind, len(messages))}"
        text = render_template("status/alert_email.txt", kind=kind, status=status, messages=messages,
                               told=told, link=link).strip()
        footer = gettext("Sent by Huifang to the addresses in STATUS_ALERT_EMAILS; repeated every %(hours)s "
                         "hours while something needs doing.", hours=config["STATUS_ALERT_REPEAT_HOURS"])
        html = html_body(text, link, gettext("Open the status page"), footer)
        return subject, f"{text}\n\n{footer}\n", html


def smtp_settings() -> SmtpSettings:
    """The firm's EMAIL_* settings, read before anything is recorded (a bad one is a config error)."""
    try:
        return SmtpSettings.from_config(current_app.config)
    except ValueError as exc:
        raise AlertConfigError(str(exc)) from None


def deliver(settings: SmtpSettings, recipients: list[str], subject: str, text: str, html: str,
            key: str) -> tuple[int, list[str]]:
    """Send one message to each address; returns how many took it and why the others did not."""
    accepted, failures = 0, []
    with SmtpSender(settings) as sender:
        for number, address in enumerate(recipients, 1):
            try:
                result = sender.send(build_message(settings, address, subject, text, html, f"{key}.{number}"))
            except (TemporaryFailure, ValueError) as exc:  # ValueError: not one address (build_message)
                failures.append(f"{address}: {exc}")
                continue
            if result.outcome is Outcome.SENT:
                accepted += 1
            else:
                failures.append(f"{address}: {result.outcome.value} {result.code} {result.message}".strip())
    return accepted, failures


def send_status_alert(actor: str, now: Optional[datetime] = None) -> AlertResult:
    """Check the status and e-mail the operators if an alert is due; commits what it records."""
    recipients, lang = alert_recipients(), alert_lang()
    if not recipients:
        return AlertResult(None)
    settings = smtp_settings()
    status = system_status(now or utcnow())
    # Most checks find nothing to send: they read and lock nothing.
    if alert_due(status, alert_history()) is None:
        return AlertResult(None)
    # Decided again holding the audit chain, which any other checker's `status.alerted` needs too:
    # of two checkers at the same moment, the second finds the first's alert and sends nothing.
    db.session.rollback()
    lock_chain()
    history = alert_history()
    kind = alert_due(status, history)
    if kind is None:
        db.session.rollback()
        return AlertResult(None)
    subject, text, html = alert_email(kind, status, history.told, lang)
    codes = sorted(problem.code for problem in status.problems)
    # Recorded before sending: a process killed while sending leaves an alert counted as told that
    # was not, until the reminder; the other order could send the same alert twice.
    seq = record(actor, ALERTED, "status", None, {"kind": kind, "codes": codes, "recipients": len(recipients)})
    db.session.commit()
    accepted, failures = deliver(settings, recipients, subject, text, html, f"status-alert-{seq}")
    if failures:
        record(actor, ALERT_FAILED, "status", None, {"alert_seq": seq, "accepted": accepted, "failures": failures})
        db.session.commit()
    return AlertResult(kind, codes, accepted, failures)


@jobs.handler(ALERT_KIND, lease_seconds=300, max_attempts=1)
def status_alert_job(payload: dict, job: Job) -> None:
    """The worker's check, once a minute: e-mail the operators when an alert is due."""
    try:
        result = send_status_alert("system", jobs.now())
    except AlertConfigError as exc:
        # The firm's setting, not this run, is wrong: say so in the worker's log every minute
        # rather than give the job up (a dead job would itself be called for, with no reason shown).
        current_app.logger.error("status alerts are off: %s", exc)
        return
    if result.failures:
        current_app.logger.warning("status alert %s reached %d of %d addresses", result.kind, result.accepted,
                                   result.accepted + len(result.failures))


jobs.periodic(ALERT_KIND, 60)
