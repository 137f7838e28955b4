"""Email over real SMTP: STARTTLS/SSL and auth configurable, multipart text + HTML, the firm's sender.

One SmtpSender keeps its connection open across a batch and reconnects when the server drops it.
Refusals at SMTP time are results (invalid address, refused); a 4xx or a lost connection is a
TemporaryFailure (retried with backoff, then the next channel). Bounces that come back later
(DSN) are posted to the delivery-receipts endpoint and recorded on the attempt.
"""
from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from html import escape
from typing import Mapping, Optional

from delivery.outcome import Outcome, SendResult, TemporaryFailure


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send; read from EMAIL_* settings."""

    host: str = "127.0.0.1"
    port: int = 25
    security: str = "none"  # none | starttls | ssl
    username: Optional[str] = None
    password: Optional[str] = None
    sender: str = "review@example.com"
    sender_name: str = ""
    timeout: float = 15.0

    @classmethod
    def from_config(cls, config: Mapping) -> "SmtpSettings":
        """EMAIL_HOST, EMAIL_PORT, EMAIL_SECURITY, EMAIL_USERNAME, EMAIL_PASSWORD, EMAIL_SENDER, EMAIL_SENDER_NAME."""
        from delivery.sms import setting

        security = str(setting(config, "EMAIL_SECURITY", "none")).lower()
        if security not in ("none", "starttls", "ssl"):
            raise ValueError(f"EMAIL_SECURITY: '{security}' is not one of none, starttls, ssl")
        return cls(
            host=str(setting(config, "EMAIL_HOST", "127.0.0.1")),
            port=int(setting(config, "EMAIL_PORT", 465 if security == "ssl" else 25)),
            security=security,
            username=setting(config, "EMAIL_USERNAME") or None,
            password=setting(config, "EMAIL_PASSWORD") or None,
            sender=str(setting(config, "EMAIL_SENDER", "review@example.com")),
            sender_name=str(setting(config, "EMAIL_SENDER_NAME", config.get("FIRM_NAME", ""))),
            timeout=float(setting(config, "EMAIL_TIMEOUT_SECONDS", 15)),
        )


def html_body(text: str, link: str, button: str, footer: str) -> str:
    """A plain, accessible HTML version of the text with the link as a button."""
    paragraphs = "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n") if p.strip())
    return (
        "<!doctype html><html><body style=\"font-family:sans-serif;font-size:16px;line-height:1.6;color:#222\">"
        f"{paragraphs}"
        f"<p><a href=\"{escape(link, quote=True)}\" style=\"display:inline-block;padding:10px 20px;"
        f"background:#1d4ed8;color:#fff;text-decoration:none;border-radius:4px\">{escape(button)}</a></p>"
        f"<p style=\"font-size:13px;color:#555\">{escape(link)}</p>"
        f"<p style=\"font-size:13px;color:#555\">{escape(footer)}</p></body></html>"
    )


def build_message(settings: SmtpSettings, to: str, subject: str, text: str, html: str,
                  idempotency_key: str) -> EmailMessage:
    """multipart/alternative (text, then HTML) from the firm's sender; the key rides in a header."""
    msg = EmailMessage()
    local, _, domain = settings.sender.partition("@")
    msg["From"] = Address(settings.sender_name or "", local, domain)
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(idstring=idempotency_key.replace(".", "-")[:40], domain=domain or None)
    msg["X-Huifang-Attempt"] = idempotency_key
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


class SmtpSender:
    """Sends messages over one kept-open connection (use as a context manager)."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self._smtp: Optional[smtplib.SMTP] = None

    def __enter__(self) -> "SmtpSender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.security == "ssl":
                smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if s.username:
                smtp.login(s.username, s.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise TemporaryFailure(f"SMTP authentication failed ({exc.smtp_code})") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(f"SMTP connection to {s.host}:{s.port} failed: {exc}") from None
        return smtp

    def send(self, msg: EmailMessage) -> SendResult:
        """Send one message; refusals are results, 4xx and lost connections TemporaryFailure."""
        for attempt in (1, 2):
            if self._smtp is None:
                self._smtp = self._connect()
            try:
                refused = self._smtp.send_message(msg)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                return _refusal(code, text)
            except smtplib.SMTPSenderRefused as exc:
                return _refusal(exc.smtp_code, exc.smtp_error)
            except smtplib.SMTPDataError as exc:
                return _refusal(exc.smtp_code, exc.smtp_error)
            except (smtplib.SMTPServerDisconnected, ConnectionError, socket.timeout) as exc:
                self.close()
                if attempt == 2:
                    raise TemporaryFailure(f"SMTP connection lost: {exc}") from None
                continue
            except smtplib.SMTPResponseException as exc:
                return _refusal(exc.smtp_code, exc.smtp_error)
            if refused:
                code, text = next(iter(refused.values()))
                return _refusal(code, text)
            return SendResult(Outcome.SENT, provider_id=str(msg["Message-ID"]), code="250")
        raise TemporaryFailure("SMTP: unreachable")  # pragma: no cover

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._smtp = None


def _refusal(code: int, text) -> SendResult:
    """5xx on the recipient: invalid mailbox (550/551/553) or refused; 4xx: try again later."""
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    if 400 <= int(code) < 500:
        raise TemporaryFailure(f"SMTP {code}: {message}")
    outcome = Outcome.INVALID if int(code) in (550, 551, 553) else Outcome.REFUSED
    return SendResult(outcome, code=str(code), message=message[:300])
