"""Showing a client's personal data unmasked: only allowed roles, only with a reason, always logged (7.3.5)."""
from __future__ import annotations

from typing import Optional

from flask import current_app

from app.audit.service import record
from app.auth.models import Role, StaffUser
from app.clients.models import Client
from app.clients.service import mask_email, mask_name, mask_phone
from app.followup.service import FollowupError, may_work_on
from app.phrases import phrase
from app.reviews.models import ReviewException

# Roles that may see personal data in full (config UNMASK_ROLES overrides; admins always may).
DEFAULT_UNMASK_ROLES = ("review_manager", "review_executor")
MIN_REASON = 4


def masked(client: Client) -> dict:
    """What lists and pages show by default."""
    return {"name": mask_name(client.name), "phone": mask_phone(client.phone), "email": mask_email(client.email),
            "account": client.account, "branch": client.branch or ""}


def may_unmask(user: StaffUser, exception: ReviewException) -> bool:
    """An allowed role, and for an executor only a client of an exception assigned to him or her."""
    roles = tuple(Role(r) for r in current_app.config.get("UNMASK_ROLES", DEFAULT_UNMASK_ROLES))
    return user.has_role(*roles) and may_work_on(exception, user)


def unmask(exception: ReviewException, user: StaffUser, actor: str, reason: Optional[str],
           remote_addr: Optional[str] = None) -> dict:
    """The client's contact data in full; the reason and the fields shown go to the audit log."""
    text = (reason or "").strip()
    if len(text) < MIN_REASON or len(text) > 300:
        raise FollowupError("reason", phrase("say why you need the full data (%(least)d–300 characters)", least=MIN_REASON))
    client = exception.client
    shown = {"name": client.name, "phone": client.phone or "", "email": client.email or "",
             "account": client.account, "branch": client.branch or ""}
    record(actor, "client.unmask", "client", client.id,
           {"reason": text, "exception": exception.id, "fields": ["name", "phone", "email"]}, remote_addr)
    return shown
