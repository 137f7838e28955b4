"""Forms and links read off a rendered page; a form sent back with one field set to an odd value.

The console's and the client's form tests (tests/console/test_form_inputs.py,
tests/test_client_form_inputs.py) share these: the standard library's HTMLParser reads the forms,
the way a browser would fill them, and `send` posts one back with one field replaced. The crawls
of the console (those tests and tests/browser/test_axe.py) follow links through `console_path`.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from html.parser import HTMLParser
import re
from urllib.parse import urljoin, urlsplit

import sqlalchemy as sa

from app.extensions import db

# One value per way a typed field goes wrong: empty, too long, past a column's range, not a number
# that float() still takes, an impossible date, markup, digits a Chinese keyboard types, NUL.
ODD_TEXT = {
    "blank": "",
    "spaces": "   ",
    "long": "长" * 5000,
    "huge number": "99999999999999999999999",
    "past int32": "2147483648",
    "negative": "-1",
    "infinity": "1e309",
    "nan": "NaN",
    "impossible date": "2026-02-30",
    "markup": "<script>alert(1)</script>",
    "full-width digits": "１２３",
    "superscript digit": "²",  # a digit to str.isdigit, not to int()
    "nul": "a\x00b",
}
ODD_FILES = {
    "no file": b"",
    "not text": b"\xff\xfe\x00\x81\x00 not a csv",
    "markup": "account,name\n<script>alert(1)</script>,x\n".encode(),
}
MARKUP = ODD_TEXT["markup"]
# Links to files, not pages, and the link that would end the session.
NOT_PAGES = re.compile(r"\.(csv|xlsx|pdf|json|zip|txt)$|/download$|/logout$")
# How a form refuses what it was sent: with the field and the reason, changing nothing.
REFUSALS = {400, 404, 409, 413, 422}


@dataclass
class Form:
    """A form as the page renders it: where it goes, how, and its fields' initial values."""

    action: str
    method: str
    multipart: bool
    values: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    typed: list[str] = field(default_factory=list)  # fields a person types or picks
    textareas: list[str] = field(default_factory=list)
    good: dict[str, str] = field(default_factory=dict)  # what a person would type to have it accepted

    def data(self, name: str | None = None, value: str | bytes | None = None) -> dict:
        """The form's data with one field (or none) replaced."""
        data: dict = {**self.values, **self.good}
        for file_field in self.files:
            data[file_field] = (io.BytesIO(b""), "")
        if name in self.files:
            data[name] = (io.BytesIO(value), "odd.csv")
        elif name is not None:
            data[name] = value
        return data


class FormParser(HTMLParser):
    """The forms and same-site links of one page (stdlib parser: the pages are our own, well-formed HTML)."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.page, self.forms, self.links = page, [], []
        self._form: Form | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(urljoin(self.page, a["href"]))
        elif tag == "option":
            self._option(a)
        elif tag == "form":
            self._form = Form(urljoin(self.page, a.get("action") or self.page),
                              (a.get("method") or "get").lower(), a.get("enctype") == "multipart/form-data")
            self.forms.append(self._form)
        elif self._form is None or "name" not in a or "disabled" in a:
            return
        elif tag == "input":
            self._input(a)
        elif tag == "textarea":
            self._form.values[a["name"]] = ""
            self._form.typed.append(a["name"])
            self._form.textareas.append(a["name"])
        elif tag == "select":
            self._select = a["name"]
            self._form.typed.append(a["name"])
        elif tag == "button" and a.get("type", "submit") == "submit":
            self._form.values.setdefault(a["name"], a.get("value", ""))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def _input(self, a: dict) -> None:
        form, name, kind = self._form, a["name"], a.get("type", "text")
        if kind == "file":
            form.files.append(name)
        elif kind in ("checkbox", "radio"):
            if "checked" in a or (kind == "radio" and name not in form.values):
                form.values[name] = a.get("value", "on")
        elif kind not in ("submit", "reset", "button", "image"):
            form.values[name] = a.get("value", "")
        if name != "csrf_token" and kind not in ("submit", "reset", "button", "image") and name not in form.typed:
            form.typed.append(name)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None

    def _option(self, a: dict) -> None:
        # As a person would: the selected option, else the first real one (not the "choose…" placeholder).
        if self._form is None or not self._select:
            return
        value, chosen = a.get("value", ""), self._form.values.get(self._select)
        if "selected" in a or chosen is None or (value and not chosen):
            self._form.values[self._select] = value


def read_page(path: str, html: str) -> FormParser:
    """Parse a page's forms and links."""
    parser = FormParser(path)
    parser.feed(html)
    return parser


def rows_and_audit() -> tuple[int, int]:
    """Rows in every table, and audit entries: what a refused request must leave as it found it."""
    from app.audit.models import AuditEntry

    db.session.expire_all()
    counts = [sa.select(sa.func.count()).select_from(t).scalar_subquery() for t in db.metadata.sorted_tables]
    total = db.session.scalar(sa.select(sum(counts[1:], counts[0])))
    return total, db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))


class Crashed:
    """What a request that raised looks like here: TESTING propagates exceptions instead of answering 500."""

    status_code, mimetype = 500, "text/plain"

    def __init__(self, exc: Exception):
        self.text = f"{type(exc).__name__}: {str(exc)[:120]}"

    def get_data(self, as_text=False):
        return self.text


def send(client, form: Form, name: str | None = None, value: str | bytes | None = None):
    """Send the form as a browser would, with one field replaced."""
    try:
        if form.method == "get":
            return client.get(form.action, query_string=form.data(name, value))
        return client.post(form.action, data=form.data(name, value),
                           content_type="multipart/form-data" if form.multipart else None)
    except Exception as exc:  # noqa: BLE001  (every crash is a finding, reported with the others)
        db.session.rollback()
        return Crashed(exc)


def crash_of(response) -> str:
    """What a crashed request raised, or nothing."""
    return response.text if isinstance(response, Crashed) else ""


def shows_markup(response) -> bool:
    """The typed <script> came back as markup in an HTML page (a file may carry it as data)."""
    return response.mimetype == "text/html" and MARKUP in response.get_data(as_text=True)


def console_path(link: str) -> str | None:
    """The path of a link to one of the console's own pages; None for other sites, other areas and files."""
    url = urlsplit(link)
    if url.netloc in ("", "localhost") and url.path.startswith("/console/") and not NOT_PAGES.search(url.path):
        return url.path
    return None
