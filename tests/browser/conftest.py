"""Real-browser fixtures: the app served live on 127.0.0.1 and headless Chromium at phone size.

The live server serves the test's own `app` (and so the test's own database) with werkzeug's
threaded server in a background thread; the test reads the database directly through db.session.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# The main screen: a 390 × 844 phone (iPhone 12-14 class), retina, touch.
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Records what the page reports: CSP violations (the DOM event) before any page script runs.
RECORD_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.fixture
def serving(app):
    """The test's app served on a free port of 127.0.0.1; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture(scope="package")
def chromium():
    """Debian's Chromium driven by Playwright, headless, once for this folder's tests.

    Package scope, not session: Playwright's sync API runs an event loop in this thread while it
    is open, and other folders' browser tests (tests/mandatory) start their own afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@dataclass
class Phone:
    """A page at phone size plus everything it reported (console errors, page errors, CSP)."""

    page: object
    base_url: str
    console_errors: list = field(default_factory=list)

    def open(self, path: str):
        return self.page.goto(self.base_url + path)

    def csp_violations(self) -> list:
        return self.page.evaluate("window.__csp || []")


@pytest.fixture
def phone(chromium, serving):
    """Open phone-sized pages: phone(javascript=True, locale='zh-CN') -> Phone."""
    contexts = []

    def make(javascript: bool = True, locale: str = "zh-CN") -> Phone:
        context = chromium.new_context(**PHONE, java_script_enabled=javascript, locale=locale)
        context.set_default_timeout(10_000)
        contexts.append(context)
        context.add_init_script(RECORD_CSP)
        page = context.new_page()
        phone = Phone(page, serving)
        page.on("console", lambda msg: msg.type == "error" and phone.console_errors.append(msg.text))
        page.on("pageerror", lambda exc: phone.console_errors.append(f"page error: {exc}"))
        return phone

    yield make
    for context in contexts:
        context.close()


def link_path(invitation) -> str:
    """The path of an invitation's signed link (the test's base URL replaces the public one)."""
    from app.reviews import service

    return urlsplit(service.invitation_url(invitation)).path


@pytest.fixture
def suitability_invitation(make_invitation, make_client, publish):
    """An invitation to the built-in suitability questionnaire for a client whose ID ends 123X."""
    version = publish("suitability")
    client = make_client(id_last4="123X")
    return make_invitation(client=client, version=version,
                           context={"product_name": "稳健理财1号", "product_risk": "R3（中风险）"})


def save_screenshot(page, name: str, full_page: bool = True) -> None:
    """Write docs/screenshots/<name>.png only when UPDATE_SCREENSHOTS=1 (tracked files stay put)."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
