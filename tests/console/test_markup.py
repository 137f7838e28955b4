"""Every console page: nothing the CSP would block (no inline style or script), labelled controls, table headers."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from app.auth.models import Role
from tests.console.test_roles import PAGES


class PageAudit(HTMLParser):
    """Collects what the checks below need from one page."""

    def __init__(self):
        super().__init__()
        self.inline = []  # style attributes, <style>, inline <script>, on* handlers
        self.controls = []  # (id, tag) of inputs that need a label
        self.label_for = set()
        self.wrapped = 0  # controls inside a <label>
        self.th_without_scope = 0
        self.tables = self.tables_with_head = 0
        self._in_label = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "style" in attrs or tag == "style" or (tag == "script" and "src" not in attrs):
            self.inline.append(tag)
        self.inline += [name for name in attrs if name.startswith("on")]
        if tag == "label":
            self._in_label += 1
            if attrs.get("for"):
                self.label_for.add(attrs["for"])
        if tag in ("input", "select", "textarea") and attrs.get("type") not in ("hidden", "submit"):
            if self._in_label:
                self.wrapped += 1
            else:
                self.controls.append((attrs.get("id"), tag))
        if tag == "th" and "scope" not in attrs:
            self.th_without_scope += 1
        if tag == "table":
            self.tables += 1
        if tag == "thead":
            self.tables_with_head += 1

    def handle_endtag(self, tag):
        if tag == "label":
            self._in_label -= 1


@pytest.fixture
def pages(client, sign_in, seed):
    sign_in(Role.ADMIN)
    extra = ["/console/questionnaires/-/publish", "/console/invitations/new?version=all-types:2"]
    return {url: client.get(url).get_data(as_text=True) for url in [row[2](seed) for row in PAGES] + extra}


def audit(html: str) -> PageAudit:
    parser = PageAudit()
    parser.feed(html)
    return parser


def test_no_page_has_inline_styles_or_scripts(pages):
    assert {url: audit(html).inline for url, html in pages.items() if audit(html).inline} == {}


def test_every_form_control_has_a_label(pages):
    unlabelled = {url: [c for c in audit(html).controls if c[0] not in audit(html).label_for]
                  for url, html in pages.items()}
    assert {url: c for url, c in unlabelled.items() if c} == {}


def test_every_table_has_header_cells_with_scope(pages):
    for url, html in pages.items():
        page = audit(html)
        assert page.th_without_scope == 0 and page.tables == page.tables_with_head, url


def test_pages_have_one_main_heading(pages):
    assert {url: len(re.findall(r"<h1[ >]", html)) for url, html in pages.items()} == {url: 1 for url in pages}


def test_console_pages_send_the_csp_and_no_store(client, sign_in, seed):
    sign_in(Role.ADMIN)
    response = client.get("/console/invitations")
    assert "style-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_forms_without_a_csrf_token_are_refused_and_change_nothing(client, sign_in, seed):
    from tests.console.conftest import state

    sign_in(Role.ADMIN)
    before = state()
    response = client.post("/console/questionnaires/all-types/v1/retire", data={"confirm": "y"})
    assert response.status_code == 400
    assert state() == before
