"""The ceiling of the client-path benchmark: the real path's six responses, served with no work.

bench_client_path.capture_path walks one invitation through the real app and keeps each response
as it was sent: status, headers (the session cookie, the CSP) and body (the CSRF token, the
20-question form). `ceiling_app` serves those bytes again, on the same URLs and with the same
gunicorn setup. It reads the request's form, as any server must, and decides only whether to show
the form or to send the phone to the identity page (by the session cookie that the identity POST
set). It reads no database, checks no signature or token and renders nothing, so no
implementation of the path can answer the benchmark's clients faster. Its throughput against the
bare page's bounds what the issue's ratio can be on this machine with this load generator
(docs/perf-client.md, "Nineteenth session").
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask, Response, request


def ceiling_app() -> Flask:
    """A Flask app answering the path's URLs with the captured responses in $CEILING_RESPONSES (JSON)."""
    steps = json.loads(Path(os.environ["CEILING_RESPONSES"]).read_text(encoding="utf-8"))
    verified = steps.pop("verified_cookie")
    canned = {name: (step["body"].encode("utf-8"), step["status"], step["headers"]) for name, step in steps.items()}
    app = Flask("ceiling")

    def answer(name: str, location: str | None = None) -> Response:
        body, status, headers = canned[name]
        resp = Response(body, status=status, headers=headers)
        if location:
            resp.headers["Location"] = location
        return resp

    @app.route("/q/<token>", methods=["GET", "POST"])
    def form(token: str):
        if request.method == "POST":
            request.form  # noqa: B018 - every server reads the answers
            return answer("submit", f"/q/{token}/receipt")
        if request.cookies.get("session") == verified:
            return answer("form")
        return answer("link", f"/q/{token}/identity")

    @app.route("/q/<token>/identity", methods=["GET", "POST"])
    def identity(token: str):
        if request.method == "POST":
            request.form  # noqa: B018
            return answer("identity_post", f"/q/{token}")
        return answer("identity")

    @app.get("/q/<token>/receipt")
    def receipt(token: str):
        return answer("receipt")

    return app
