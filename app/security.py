"""Response headers that keep signed links and personal data from leaking."""
from __future__ import annotations

from flask import Flask, request

from app.assets import is_static_endpoint

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors {ancestors}"
)


FRAME_ANCESTORS_KEY = "huifang.frame_ancestors"


def allow_framing(origins: list[str]) -> None:
    """Let these origins frame the page of this request (CSP frame-ancestors); default is none."""
    request.environ[FRAME_ANCESTORS_KEY] = list(origins) or ["'none'"]


def register(app: Flask) -> None:
    """Add the security headers to every response."""

    @app.after_request
    def _security_headers(response):
        # The URL holds a bearer token: never send it to another site in a Referer header.
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if not is_static_endpoint(request.endpoint):
            # Answers and personal data must not stay in shared caches or the back-forward cache.
            # Static files are public; app/assets.py decides how long they are kept.
            response.headers["Cache-Control"] = "no-store"
        ancestors = " ".join(request.environ.get(FRAME_ANCESTORS_KEY) or ["'none'"])
        response.headers.setdefault("Content-Security-Policy", CSP.format(ancestors=ancestors))
        if "'none'" in ancestors:
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response
