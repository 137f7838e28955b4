"""Role checks for console routes."""
from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from app.auth.models import Role


def roles_required(*roles: Role):
    """Allow only signed-in staff holding one of the roles (admins hold all); 403 otherwise."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.has_role(*roles):
                abort(403, "Your role does not allow this.")
            return view(*args, **kwargs)

        return wrapped

    return decorator


def actor_name() -> str:
    """How the signed-in user appears in the audit log."""
    return f"staff:{current_user.username}"
