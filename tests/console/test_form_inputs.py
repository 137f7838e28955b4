"""Every form a staff member can reach, posted with one field at a time set to what no one should type.

tests/test_api_schema.py has schemathesis do this for the API from its OpenAPI document. The console
has no such document, so this test reads the forms off the pages themselves (tests/html_forms.py): it
follows every link from /console/ as an admin, fills each form the way the page does, adds what a
person would type to have it accepted (so that each odd value meets its own field's check, not the
first blank required field), and sends it once per (field, odd value). What it checks is the guide's
rule for bad input, "a clear message, and it changes nothing":
- never a 500;
- a refusal (4xx) writes nothing: no audit entry and no row in any table;
- what was typed never comes back as markup, on the answer or on any page afterwards, and a report's
  PDF prints it as the characters typed.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode, urlsplit

import pytest
from pypdf import PdfReader

from app.auth.models import Role
from app.extensions import db
from tests.conftest import DATA
from tests.html_forms import (
    MARKUP, ODD_FILES, ODD_TEXT, REFUSALS, Form, FormParser, console_path, crash_of, read_page, rows_and_audit, send,
    shows_markup,
)

# A report's text areas are paragraphs printed into its PDF, read by no parser: they get the values
# that test printing only, since each accepted value costs a WeasyPrint render (about 0.4 s).
PRINTED_TEXT = {label: ODD_TEXT[label] for label in ("blank", "long", "markup", "nul")}
# The one form that would end the admin's session.
SKIPPED_ACTIONS = re.compile(r"/logout$")


def crawl(client, start: list[str], problems: list[str] | None = None) -> dict[str, FormParser]:
    """Every console page an admin reaches from the start pages by links and by sending filters as they stand.

    Without `problems` every page must open; with it, a page may refuse (a letter keyed already is 409),
    and a page that fails or shows typed markup is added to the problems.
    """
    pages, queue = {}, list(start)
    while queue:
        path = queue.pop(0)
        if path in pages:
            continue
        response = client.get(path, follow_redirects=True)
        html = response.get_data(as_text=True)
        if problems is None:
            assert response.status_code == 200, path
        elif response.status_code >= 500 or MARKUP in html:
            problems.append(f"GET {path}: {response.status_code}, {'markup shown' if MARKUP in html else 'failed'}")
        pages[path] = parsed = read_page(path, html)
        queue.extend(path for path in map(console_path, parsed.links) if path)
        queue.extend(f"{form.action}?{urlencode(form.values)}" for form in parsed.forms
                     if form.method == "get" and form.values and "?" not in path)
    return pages


def route_of(url: str) -> str:
    """The URL's path with each id, version (v2) and letter code (HL-7K3M-Q9XP) written N."""
    return re.sub(r"/(\d+|v\d+|HL-[0-9A-Z]{4}-[0-9A-Z]{4})(?=/|$)", "/N", urlsplit(url).path)


def forms_by_route(pages: dict[str, FormParser], method: str) -> dict[str, Form]:
    """One form of each route (ids in the action replaced by N), with the method given."""
    found = {}
    for parsed in pages.values():
        for form in parsed.forms:
            route = route_of(form.action)
            if form.method == method and form.typed and not SKIPPED_ACTIONS.search(route):
                found.setdefault(route, form)
    return found


def good_values(client_account: str, letter_code: str, unprinted_letter_id: int) -> dict[str, dict]:
    """Per route, values that have the form accepted: each odd value then meets its own field's check,
    where with a required field left blank every value would stop at that field."""
    from app.followup.service import APPENDIX_B_WEIGHTS
    from tests.letters.test_keying import TYPED

    return {
        "/console/questionnaires/-/publish": {"text": (DATA / "all_types.yaml").read_text(encoding="utf-8")},
        "/console/questionnaires/all-types/N/retire": {"confirm": "y"},
        "/console/invitations/new": {"client_account": client_account, "ctx_product_name": "稳健理财1号"},
        "/console/exceptions/N/unmask": {"reason": "客户来电，核实身份"},
        "/console/exceptions/N/findings": {"note": "已电话联系客户"},
        "/console/exceptions/N/escalate": {"note": "需合规部复核"},
        "/console/exceptions/N/close": {"note": "核实无误"},
        "/console/exceptions/N/objections": {"raised_by": "客户本人", "content": "对结论有异议"},
        "/console/qc": {"unit": "上海分公司", "period": "2026", **{k: "90" for k in APPENDIX_B_WEIGHTS}},
        "/console/campaigns/new": {"name": "年度适当性回访"},
        "/console/campaigns/N/sample": {"as_of": "2025-12-31", "seed": "2026"},
        "/console/letters/batches": {"name": "补寄", "invitation_ids": str(unprinted_letter_id)},
        "/console/letters/reprint": {"letter_id": letter_code},
        "/console/letters/key/N": TYPED,
        "/console/letters/verify/N": {"knows_fees": "2"},
    }


@dataclass
class Console:
    """An admin's test client and the forms of every page it reaches, one per route and method."""

    client: object
    pages: dict[str, FormParser]
    posts: dict[str, Form]
    gets: dict[str, Form]


@pytest.fixture
def console(client, sign_in, make_staff, seed, make_campaign, publish, printed_letter, letter_invitation) -> Console:
    """The console over an answered, flagged review, a campaign with a population to sample, a printed letter,
    one whose two keyings differ, and one waiting to print."""
    from app.campaigns.service import set_client_attributes
    from app.letters.keying import key_entry
    from tests.letters.test_keying import TYPED

    make_campaign(version=publish("suitability"))
    letter, _batch = printed_letter()
    disputed, _batch = printed_letter()
    for staff, typed in ((make_staff(Role.REVIEW_EXECUTOR)[0], TYPED),
                         (make_staff(Role.REVIEW_EXECUTOR)[0], {**TYPED, "knows_fees": "2"})):
        key_entry(disputed, staff, typed)
    waiting = letter_invitation()
    set_client_attributes([{"account": letter.invitation.client.account, "as_of": date(2025, 12, 31),
                            "max_product_risk": "R3", "exceeds_tolerance": False}], "test")
    make_staff(Role.REVIEW_EXECUTOR)  # someone to assign an exception to
    db.session.commit()
    sign_in(Role.ADMIN)
    pages = crawl(client, ["/console/", f"/console/letters/key/{letter.code}",
                           f"/console/letters/verify/{disputed.code}"])
    posts, gets = forms_by_route(pages, "post"), forms_by_route(pages, "get")
    for route, values in good_values(letter.invitation.client.account, letter.code, waiting.id).items():
        posts[route].good = values
    return Console(client, pages, posts, gets)


def odd_values(form: Form, name: str) -> dict:
    """The odd values a field is sent: bytes for a file, text for the rest, fewer for a report's paragraphs."""
    if name in form.files:
        return ODD_FILES
    return PRINTED_TEXT if name in form.textareas and form.action.endswith(".pdf") else ODD_TEXT


def prints_as_typed(response, value) -> bool:
    """A PDF made from typed markup shows it as the characters typed (escaped, not interpreted)."""
    if response.mimetype != "application/pdf" or value != MARKUP:
        return True
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.get_data())).pages)
    return MARKUP in re.sub(r"\s+", "", text)


# The routes the crawl must reach, so that a broken crawl cannot pass by testing less.
EXPECTED_POST_ROUTES = {
    "/console/questionnaires/-/publish", "/console/questionnaires/all-types/N/retire", "/console/invitations/new",
    "/console/exceptions/N/assign", "/console/exceptions/N/findings", "/console/exceptions/N/escalate",
    "/console/exceptions/N/close", "/console/exceptions/N/objections", "/console/exceptions/N/unmask",
    "/console/qc", "/console/campaigns/new", "/console/campaigns/N/targets", "/console/campaigns/N/sample",
    "/console/letters/batches", "/console/letters/reprint", "/console/stats/report.pdf", "/console/stats/yearly.pdf",
    "/console/letters/key/N", "/console/letters/verify/N",
}
EXPECTED_GET_ROUTES = {
    "/console/invitations", "/console/exceptions", "/console/clients", "/console/stats/", "/console/audit/",
    "/console/letters/archive", "/console/letters/key", "/console/invitations/new",
    "/console/questionnaires/all-types/diff",
}
# Steps of a workflow that must come first: the fuzz sends the forms in page order, which has them.
FIRST = {"/console/exceptions/N/escalate": "/console/exceptions/N/assign",
         "/console/exceptions/N/close": "/console/exceptions/N/assign"}


def test_the_crawl_reaches_every_console_form(console):
    assert EXPECTED_POST_ROUTES <= set(console.posts), sorted(EXPECTED_POST_ROUTES - set(console.posts))
    assert EXPECTED_GET_ROUTES <= set(console.gets), sorted(EXPECTED_GET_ROUTES - set(console.gets))


@pytest.mark.parametrize("route", sorted(EXPECTED_POST_ROUTES))
def test_each_forms_good_values_are_accepted(console, route):
    if route in FIRST:
        assert send(console.client, console.posts[FIRST[route]]).status_code in (302, 303)
    response = send(console.client, console.posts[route])

    assert response.status_code in (200, 302, 303), response.get_data(as_text=True)[:2000]


def test_no_odd_value_in_a_filter_is_a_500_or_comes_back_as_markup(console):
    client, problems = console.client, []
    for route, form in console.gets.items():
        for name in form.typed:
            for label, value in odd_values(form, name).items():
                response = send(client, form, name, value)
                if response.status_code >= 500 or shows_markup(response):
                    problems.append(f"GET {route} {name}={label}: {response.status_code} {crash_of(response)}")

    assert problems == []


def test_no_odd_value_in_a_posted_form_is_a_500_a_partial_write_or_markup(console):
    client, problems = console.client, []
    for route, form in console.posts.items():
        if route in FIRST:
            send(client, console.posts[FIRST[route]])
        for name in form.typed:
            for label, value in odd_values(form, name).items():
                before = rows_and_audit()
                response = send(client, form, name, value)
                where = f"POST {route} {name}={label}: {response.status_code} {crash_of(response)}"
                printed_wrong = name in form.textareas and not prints_as_typed(response, value)
                if response.status_code >= 500 or shows_markup(response) or printed_wrong:
                    problems.append(where)
                elif response.status_code in REFUSALS and rows_and_audit() != before:
                    problems.append(f"{where} wrote {before} -> {rows_and_audit()}")
                elif response.status_code >= 400 and response.status_code not in REFUSALS:
                    problems.append(f"{where}, not a refusal")
    # What the accepted values stored is shown as text on every page afterwards.
    crawl(client, list(console.pages), problems)

    assert problems == []
