"""The ceiling of the client-path benchmark: the real path's six responses, served with no work.

`capture_path` walks one invitation through the real app (Flask's test client) and keeps each
response as it was sent: status, headers (the session cookie, the CSP, the Location) and body
(the CSRF token, the 20-question form). `ceiling_app` serves those bytes again, on the same URLs
and with the same gunicorn setup, reading the request's form as any server must, and deciding
only whether to show the form or send the phone to the identity page (by the session cookie the
identity POST set). It reads no database, checks no signature or token and renders nothing, so no
implementation of the path can answer the benchmark's clients faster: what its throughput is
against the bare page's bounds what the issue's ratio can be on this machine with this load
generator (docs/perf-client.md, "Nineteenth session").
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask, Response, request

# The headers a server computes per response; the rest of each captured response is served as sent.
_COMPUTED = {"content-length", "date", "server", "location"}


def capture_path(app, link: str, identity_answer: str, answers: list, csrf_re) -> dict:
    """One invitation's path through the real app: {step: {status, headers, body}} as it was sent."""
    from werkzeug.datastructures import MultiDict

    client = app.test_client()
    steps = {}

    def keep(step: str, resp) -> str:
        body = resp.get_data(as_text=True)
        headers = [(k, v) for k, v in resp.headers.items() if k.lower() not in _COMPUTED]
        steps[step] = {"status": resp.status_code, "headers": headers, "body": body}
        return body

    keep("link", client.get(link))
    page = keep("identity", client.get(link + "/identity"))
    keep("identity_post", client.post(link + "/identity",
                                      data={"csrf_token": csrf_re.search(page).group(1), "answer": identity_answer}))
    page = keep("form", client.get(link))
    keep("submit", client.post(link, data=MultiDict([("csrf_token", csrf_re.search(page).group(1)),
                                                      ("_action", "submit"), *answers])))
    keep("receipt", client.get(link + "/receipt"))
    if [s["status"] for s in steps.values()] != [303, 200, 303, 200, 303, 200]:
        raise RuntimeError(f"the real path did not answer as expected: {[s['status'] for s in steps.values()]}")
    verified = next(v for k, v in steps["identity_post"]["headers"] if k.lower() == "set-cookie")
    steps["verified_cookie"] = verified.split(";", 1)[0].split("=", 1)[1]
    return steps


def ceiling_app() -> Flask:
    """A Flask app answering the path's URLs with the responses in $CEILING_RESPONSES (JSON)."""
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
