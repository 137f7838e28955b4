"""Error handlers: JSON for the API, a friendly page for people, never a traceback."""
from __future__ import annotations

import math
import time
from typing import NoReturn

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.extensions import db, limiter
from app.logredact import redact
from app.phrases import localized

TITLES = {
    400: _l("The request could not be understood"),
    401: _l("Please sign in"),
    403: _l("You may not do this"),
    404: _l("Not found"),
    405: _l("Not allowed"),
    409: _l("Conflict"),
    410: _l("This link can no longer be used"),
    413: _l("Too large"),
    422: _l("Please check what you sent"),
    423: _l("Temporarily locked"),
    429: _l("Too many requests"),
    500: _l("Something went wrong"),
}


def wants_json() -> bool:
    """API callers get JSON errors; browsers get pages."""
    return request.path.startswith("/api/")


def error_response(status: int, message: str, headers=None, **extra):
    """One place that shapes an error for API callers and for people."""
    headers = headers or {}
    if wants_json():
        body = {"error": {"status": status, "message": message, **extra}}
        return jsonify(body), status, headers
    title = str(TITLES.get(status, _("Error")))
    return (render_template("errors/error.html", status=status, title=title, message=localized(message)),
            status, headers)


def protocol_headers(exc: HTTPException) -> dict:
    """The headers HTTP asks of this error (Allow on a 405, Retry-After, WWW-Authenticate), not its body's."""
    return {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}


def register(app: Flask) -> None:
    """Install the handlers; every error rolls the session back first."""

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        db.session.rollback()
        return error_response(400, _("The form expired or was sent twice. Please go back, reload the page and try again."))

    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc: RateLimitExceeded):
        db.session.rollback()
        return too_many_requests()

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        db.session.rollback()
        message = exc.description if isinstance(exc.description, str) else ""
        extra = getattr(exc, "extra", None) or {}
        return error_response(exc.code or 500, message, headers=protocol_headers(exc), **extra)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, redact(request.path))
        return error_response(500, _(InternalServerError.description))


def too_many_requests():
    """The answer to a client over a rate limit: what to do, in its language, and when to retry."""
    # Flask-Limiter's own text is the limit ("20 per 1 minute"), in English, and says nothing of
    # what to do; a client on a phone is told to wait, and a browser or script when it may retry.
    message = _("Too many tries from your network. Please wait a minute and try again.")
    return error_response(429, message, headers={"Retry-After": str(seconds_until_retry())})


def seconds_until_retry() -> int:
    """Seconds until the breached rate limit lets this client in again (1 at least)."""
    breached = limiter.current_limit
    if breached is None:
        return 60
    try:
        # window[0] is when the oldest counted refusal leaves the window (reset_at adds a second).
        return max(1, math.ceil(breached.window[0] - time.time()))
    except Exception:  # noqa: BLE001 - Redis gone since the check: a 429 must not become a 500
        return 60


def abort_with(status: int, message: str, **extra) -> "NoReturn":
    """Stop the request with a status, a clear message and named fields (e.g. field='context')."""
    from werkzeug.exceptions import default_exceptions

    exc = default_exceptions[status](description=message)
    exc.extra = extra
    raise exc
