"""The console's navigation: each area adds its entries, so no area edits a shared template."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from app.auth.models import Role


@dataclass(frozen=True)
class NavItem:
    """One link in the console's top navigation."""

    label: str  # an English msgid, translated when rendered
    endpoint: str
    roles: Optional[tuple[Role, ...]]  # None: every signed-in staff member
    order: int


NAV: list[NavItem] = []


def nav_item(label: str, endpoint: str, roles: Optional[tuple[Role, ...]] = None, order: int = 50) -> None:
    """Add a navigation entry (call at import time of an area's routes module)."""
    if all(item.endpoint != endpoint for item in NAV):
        NAV.append(NavItem(label, endpoint, roles, order))
        NAV.sort(key=lambda item: item.order)


def visible_nav(user) -> list[NavItem]:
    """The entries the user's role may see."""
    return [item for item in NAV if item.roles is None or user.has_role(*item.roles)]
