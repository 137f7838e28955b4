"""Headless Chromium: the gate inside an iframe of a business system's page (5.2.3 mandatory step)."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from app.mandatory import tokens

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
HOST_PAGE = """<!doctype html><html><body><h1>Business system</h1>
<iframe id="gate" src="{src}" width="800" height="900"></iframe>
<script>
window.received = null;
window.addEventListener("message", function (e) {{ window.received = {{origin: e.origin, data: e.data}}; }});
</script></body></html>"""


class HostSite:
    """The business system's page on its own origin, framing the gate."""

    def __init__(self):
        self.src = "about:blank"
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = HOST_PAGE.format(src=site.src).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def live(app):
    """The app served over HTTP on loopback (same database as the test), plus the host site."""
    host = HostSite()
    server = make_server("127.0.0.1", 0, None, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    live_app = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                           "SECRET_KEYS": app.config["SECRET_KEYS"], "PUBLIC_BASE_URL": base,
                           "RATELIMIT_ENABLED": False})
    server.app = live_app
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield live_app, host, base
    server.shutdown()
    server.server_close()
    host.close()
    with live_app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        yield page
        browser.close()


def open_session(live_app, host, make_client, publish):
    from app.api.service import create_api_key

    client_row, version = make_client(), publish()
    with live_app.app_context():
        key_row, key = create_api_key("portal", callback_prefixes=["http://127.0.0.1:"], frame_origins=[host.origin])
        db.session.commit()
        secret = key_row.webhook_secret
    created = live_app.test_client().post("/api/v1/mandatory-sessions", headers={"Authorization": f"Bearer {key}"},
                                          json={"client_account": client_row.account,
                                                "questionnaire": version.questionnaire.key,
                                                "context": {"product_name": "稳健理财1号"}})
    assert created.status_code == 201, created.json
    return created.json, secret


def test_gate_in_an_iframe_posts_the_result_to_the_host_and_offers_no_way_out(live, browser_page, make_client, publish):
    live_app, host, base = live
    session, secret = open_session(live_app, host, make_client, publish)
    host.src = session["url"]
    page = browser_page
    page.goto(host.origin + "/")
    frame = page.frame_locator("iframe#gate")
    frame.locator("#qform").wait_for()
    gate_frame = next(f for f in page.frames if f.url.startswith(base))
    # Nothing clickable leaves the questionnaire: links stay on this page, the only button submits.
    escapes = gate_frame.evaluate("""() => {
        const here = location.origin + location.pathname;
        const out = [];
        document.querySelectorAll('a[href]').forEach(a => {
            const u = new URL(a.href, location.href);
            if (u.origin + u.pathname !== here) out.push(a.href);
            if (a.target && a.target !== '_self') out.push('target:' + a.target);
        });
        document.querySelectorAll('button, input[type=submit]').forEach(b => {
            if (b.value !== 'submit') out.push('button:' + b.textContent.trim());
        });
        document.querySelectorAll('form').forEach(f => {
            const u = new URL(f.action, location.href);
            if (u.origin + u.pathname !== here) out.push('form:' + f.action);
        });
        return out;
    }""")
    assert escapes == []
    frame.locator('input[name="consent"]').check()
    frame.locator('input[name="own_operation"][value="yes"]').check()
    frame.locator('input[name="age"]').fill("12")
    frame.locator('input[name="satisfaction"][value="4"]').check()
    frame.locator('button[value="submit"]').click()
    page.wait_for_function("window.received !== null", timeout=15000)
    received = page.evaluate("window.received")
    assert received["origin"] == base
    message = received["data"]
    assert message["type"] == "huifang.mandatory_session.finished"
    assert message["session_id"] == session["id"] and message["status"] == "completed"
    assert tokens.verify_result([secret], message["result_token"])["sid"] == session["id"]


def test_back_button_does_not_leave_the_gate(live, browser_page, make_client, publish):
    live_app, host, base = live
    session, _secret = open_session(live_app, host, make_client, publish)
    page = browser_page
    page.goto(host.origin + "/")  # where the client came from
    page.goto(session["url"])
    page.locator("#qform").wait_for()
    page.wait_for_timeout(300)  # gate.js arms its history entry
    page.go_back()
    page.wait_for_timeout(300)
    assert page.url == session["url"] and page.locator("#qform").count() == 1


def test_refresh_keeps_the_answers_given(live, browser_page, make_client, publish):
    live_app, host, base = live
    session, _secret = open_session(live_app, host, make_client, publish)
    page = browser_page
    page.goto(session["url"])
    page.locator('input[name="age"]').fill("47")
    page.locator('input[name="own_operation"][value="yes"]').check()
    with page.expect_response(lambda r: r.url.endswith("/draft")):
        page.locator('input[name="age"]').blur()
    page.reload()
    assert page.locator('input[name="age"]').input_value() == "47"
    assert page.locator('input[name="own_operation"][value="yes"]').is_checked()
