"""Static files under URLs that name their content, so a phone keeps them instead of asking again.

Every `url_for` of a static endpoint (the app's or a blueprint's) gets `?v=<digest of the file>`.
A request carrying the file's current digest is answered as cacheable for a year and immutable:
the next page of the client's path loads its stylesheet and script without a round trip, which
on a slow mobile network is worth more than the bytes. A request without it, or with an old
digest, is answered as before (`no-cache`: revalidated each time), so a page cached before a
deploy never pins a stale file.

Why not a library: Flask-Static-Digest and WhiteNoise's manifest storage both rename files in a
build step; a digest in the query string needs no build step and keeps the files' names.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

from flask import Flask, Response, request
from werkzeug.security import safe_join

IMMUTABLE = "public, max-age=31536000, immutable"
DIGEST_CHARS = 12


def is_static_endpoint(endpoint: Optional[str]) -> bool:
    """True for the app's `static` endpoint and every blueprint's `<name>.static`."""
    return endpoint is not None and (endpoint == "static" or endpoint.endswith(".static"))


def _static_folder(app: Flask, endpoint: str) -> Optional[str]:
    if endpoint == "static":
        return app.static_folder
    blueprint = app.blueprints.get(endpoint.rsplit(".", 1)[0])
    return blueprint.static_folder if blueprint else None


def _file_digest(folder: Optional[str], filename: str) -> Optional[str]:
    path = safe_join(folder, filename) if folder else None
    if path is None or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:DIGEST_CHARS]


def register(app: Flask) -> None:
    """Add the digest to static URLs and answer requests that carry it as immutable."""
    # The files do not change while a process runs, except in development (debug reloads).
    digests: dict[tuple[str, str], Optional[str]] = {}

    def digest(endpoint: str, filename: str) -> Optional[str]:
        key = (endpoint, filename)
        if app.debug or key not in digests:
            digests[key] = _file_digest(_static_folder(app, endpoint), filename)
        return digests[key]

    @app.url_defaults
    def _add_digest(endpoint: str, values: dict) -> None:
        if is_static_endpoint(endpoint) and "filename" in values and "v" not in values:
            version = digest(endpoint, values["filename"])
            if version:
                values["v"] = version

    @app.after_request
    def _cache_named_content(response: Response) -> Response:
        endpoint = request.endpoint
        # A 304 too: its headers replace the stored ones, and must not take the year away.
        if (response.status_code in (200, 304) and is_static_endpoint(endpoint) and request.view_args
                and request.args.get("v") == digest(endpoint, request.view_args["filename"])):
            response.headers["Cache-Control"] = IMMUTABLE
        return response
