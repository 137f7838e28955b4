"""Binding the delivery adapters to the app's configuration, and composing each channel's message."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Optional
from zoneinfo import ZoneInfo

from flask import current_app

from app.clients.models import Client
from app.clients.service import EMAIL_RE, MOBILE_RE
from app.reviews.service import public_base_url
from delivery.sms import provider_from_config, setting
from delivery.sms.base import compose_sms  # noqa: F401  (dispatch composes through this module)

CHANNELS = ("app", "sms", "email", "letter")
QUIET_CHANNELS = ("sms", "app")  # no SMS or app push in quiet hours (issue 4)
PLACEHOLDERS = ("link", "deadline", "firm_name", "client_name", "service_phone")
PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")

DEFAULT_SMS = "请于{deadline}前完成回访问卷："
DEFAULT_SUBJECT = "{firm_name}客户回访问卷 / Client review questionnaire"
DEFAULT_EMAIL = (
    "尊敬的{client_name}：\n\n{firm_name}邀请您完成一份客户回访问卷，请于{deadline}前点击下方链接作答。"
    "如有疑问请致电{service_phone}。\n\n"
    "Dear client,\n\n{firm_name} invites you to answer a short review questionnaire by {deadline}. "
    "Please open the link below. Questions: call {service_phone}."
)


# The two links are built by hand, not with reviews.public_url: url_for needs a request context,
# which the worker would have to push for every message of a 100,000-client campaign.
# tests/campaigns/test_links.py holds them equal to what the routes build.
def short_link(short_code: str) -> str:
    """The SMS short link (/s/<code>), built without a request (workers, CLI)."""
    return f"{public_base_url()}/s/{short_code}"


def form_link(token: str) -> str:
    """The signed link to the form (/q/<token>), built without a request (workers, CLI)."""
    return f"{public_base_url()}/q/{token}"


def unknown_placeholders(template: Optional[str]) -> list[str]:
    """Placeholders a template uses that the channels cannot fill."""
    return sorted({m for m in PLACEHOLDER_RE.findall(template or "") if m not in PLACEHOLDERS})


def fill(template: str, values: dict) -> str:
    """Replace {name} placeholders; other braces stay as they are."""
    return PLACEHOLDER_RE.sub(lambda m: str(values.get(m.group(1), m.group(0))), template)


def contact_problem(channel: str, client: Client) -> Optional[str]:
    """Why this client cannot be sent on this channel (flagged, not sent), or None."""
    if channel == "sms":
        if not client.phone:
            return "no mobile number"
        if not MOBILE_RE.match(client.phone):
            return "not a mainland mobile number"
    elif channel == "email":
        if not client.email:
            return "no email address"
        if not EMAIL_RE.match(client.email):
            return "not an email address"
    elif channel == "letter" and not (client.postal_address or "").strip():
        return "no postal address"
    return None


def deadline_text(deadline: Optional[datetime], tz: str) -> str:
    if deadline is None:
        return ""
    local = deadline.astimezone(ZoneInfo(tz))
    return f"{local.month}月{local.day}日"


@dataclass
class Senders:
    """The adapters of one dispatch pass, opened lazily and closed together."""

    _sms: object = None
    _email: object = None
    _app: object = None

    def sms(self):
        if self._sms is None:
            self._sms = provider_from_config(current_app.config)
        return self._sms

    def email(self):
        if self._email is None:
            from delivery.email import SmtpSender, SmtpSettings

            self._email = SmtpSender(SmtpSettings.from_config(current_app.config))
        return self._email

    def app(self):
        if self._app is None:
            from delivery.app_push import AppPush

            cfg = current_app.config
            self._app = AppPush(setting(cfg, "APP_PUSH_URL"), setting(cfg, "APP_PUSH_SECRET"),
                                float(setting(cfg, "APP_PUSH_TIMEOUT_SECONDS", 10)))
        return self._app

    def close(self) -> None:
        for adapter in (self._sms, self._email, self._app):
            if adapter is not None:
                adapter.close()
        self._sms = self._email = self._app = None
