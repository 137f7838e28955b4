"""axe-core, Deque's accessibility engine, run on every page a client or a staff member sees.

test_accessibility.py measures what axe leaves to people: the focus ring, the body text size,
the contrast of text over composited backgrounds. axe checks the rest of what WCAG lets a machine
check: names and roles, labels, landmarks, ARIA, the page language, duplicate ids, headings,
tables, text alternatives of the charts. The engine is pinned (axe-playwright-python ships
axe-core 4.12.1) so a rule added upstream cannot turn the suite red without a commit.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe

from app.extensions import db
from tests.browser.conftest import link_path
from tests.browser.test_client_form import answer_everything, start, submit_and_read_receipt
from tests.conftest import current_code
from tests.html_forms import console_path

pytestmark = pytest.mark.browser

# WCAG 2.0-2.2, levels A and AA, plus Deque's best practices (landmarks, heading order, regions).
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa",
                                               "best-practice"]}}
AXE = Axe()


def violations(page) -> list[str]:
    """axe's violations on the page as it stands: 'rule (impact): element, element'."""
    found = AXE.run(page, options=RULES).response["violations"]
    return [f"{v['id']} ({v['impact']}): {', '.join(t for n in v['nodes'] for t in n['target'])}" for v in found]


def reach(phone, invitation, step: str, lang: str):
    """Open the invitation's link on a phone in the language and go as far as the step."""
    if step.startswith("identity"):
        client = phone(locale=lang)
        client.open(link_path(invitation))
        if step == "identity-wrong":
            client.page.fill("#answer", "0000")
            client.page.locator("form button.primary").click()
            client.page.locator("#answer-error").wait_for()
        return client.page
    client = start(phone, invitation, locale=lang)
    if step == "form-errors":
        client.page.get_by_role("button", name=re.compile("提交|Submit")).click()
        client.page.locator(".error-summary").wait_for()
    return client.page


def test_the_engine_reports_a_missing_label(phone, suitability_invitation):
    page = reach(phone, suitability_invitation, "identity", "zh-CN")
    page.evaluate("document.querySelector('label[for=answer]').remove()")

    assert any(v.startswith("label (critical)") for v in violations(page))


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize("step", ["identity", "identity-wrong", "form", "form-errors"])
def test_each_step_of_the_suitability_form_passes_axe(phone, suitability_invitation, step, lang):
    page = reach(phone, suitability_invitation, step, lang)

    assert violations(page) == []


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_a_form_with_every_question_type_passes_axe(phone, make_invitation, make_client, publish, lang):
    invitation = make_invitation(client=make_client(id_last4="123X"), version=publish("all_types"))
    page = reach(phone, invitation, "form", lang)

    assert page.locator("input[type=date], input[type=number], input[type=checkbox]").count() >= 3
    assert violations(page) == []


def test_the_receipt_passes_axe(phone, suitability_invitation):
    client = start(phone, suitability_invitation)
    answer_everything(client.page)
    submit_and_read_receipt(client.page)

    assert violations(client.page) == []


@pytest.mark.parametrize("path", ["/q/not-a-signed-token", "/s/ZZZZZZ"])
def test_a_broken_link_page_passes_axe(phone, path):
    client = phone()
    response = client.open(path)

    assert response.status in (400, 404)
    assert violations(client.page) == []


def test_the_mandatory_gate_passes_axe(phone, app, client, api_key, make_client, publish):
    version, account = publish(), make_client().account
    created = client.post("/api/v1/mandatory-sessions", headers=api_key,
                          json={"client_account": account, "questionnaire": version.questionnaire.key,
                                "context": {"product_name": "稳健理财1号"}})
    assert created.status_code == 201, created.json
    gate = phone()
    gate.open(urlsplit(created.json["url"]).path)
    gate.page.locator("#qform").wait_for()

    assert violations(gate.page) == []


@pytest.fixture
def staff_browser(chromium, serving, make_staff):
    """A desktop browser signed in as an admin; yields (page, base URL)."""
    user, password = make_staff()
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(serving + "/login")
    page.fill("#username", user.username)
    page.fill("#password", password)
    page.locator("form button.primary").click()
    page.wait_for_url(re.compile(r"/login/code"))
    page.fill("#code", current_code(user))
    page.locator("form button.primary").click()
    page.wait_for_url(re.compile(r"/console/"))
    yield page, serving
    context.close()


def console_paths(page) -> list[str]:
    """The console's own pages this page links to."""
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    return [path for path in map(console_path, hrefs) if path]


def letters_to_key(printed_letter, make_staff) -> list[str]:
    """The keying pages of two printed letters: one waiting for its first entry, one whose two entries differ."""
    from werkzeug.datastructures import MultiDict

    from app.auth.models import Role
    from app.letters.keying import key_entry
    from tests.letters.test_keying import TYPED

    (waiting, _), (differing, _) = printed_letter(), printed_letter()
    for typed in (TYPED, {**TYPED, "knows_fees": "2"}):
        key_entry(differing, make_staff(Role.REVIEW_EXECUTOR)[0], MultiDict(typed), None)
    db.session.commit()
    return [f"/console/letters/key/{waiting.code}", f"/console/letters/verify/{differing.code}"]


def test_every_console_page_an_admin_can_reach_passes_axe(phone, staff_browser, suitability_invitation,
                                                          make_campaign, make_staff, publish, printed_letter):
    # Data for the detail pages: an answered review with exceptions (through the real form), a campaign
    # and letters to key (the key-in page is reached by typing a letter's id, so it starts the crawl).
    answering = start(phone, suitability_invitation)
    answer_everything(answering.page)
    submit_and_read_receipt(answering.page)
    make_campaign(version=publish("suitability"))
    keying = letters_to_key(printed_letter, make_staff)
    page, base = staff_browser
    found, seen, queue = {}, set(), ["/console/", *keying]
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        response = page.goto(base + path)
        assert response.status == 200, path
        found[path] = violations(page)
        queue.extend(p for p in console_paths(page) if p not in seen)

    # The pages a review needs were reached, not only the menu.
    for needed in ("/console/responses/1", "/console/exceptions/1", "/console/campaigns/1", "/console/stats/",
                   "/console/qc", "/console/clients/1", "/console/invitations/1", "/console/status", *keying):
        assert needed in found, sorted(found)
    assert {path: v for path, v in found.items() if v} == {}


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_audit_page_with_a_broken_chain_and_the_status_with_an_accepted_one_pass_axe(app, staff_browser, lang):
    from app.audit.service import record, walk_chain
    from app.status.alerts import ALERTED
    from tests.audit.tampering import tamper_audit_log
    from tests.audit.test_accept_break import accept

    for n in range(5):
        record("staff:someone", "test.action", "thing", n, {"n": n})
    record("system", ALERTED, "status", None, {"kind": "problems", "codes": ["worker_never_ran"], "recipients": 2})
    db.session.commit()
    tamper_audit_log("UPDATE audit_log SET actor = 'x' WHERE seq = 3")
    page, base = staff_browser
    page.goto(f"{base}/console/audit/?verify=1&lang={lang}")
    assert page.locator("#accept-break").is_visible()
    assert violations(page) == []
    db.session.expire_all()
    accept(walk_chain().broken)
    page.goto(f"{base}/console/status?lang={lang}")
    assert page.locator("#chain-accepted").is_visible()
    assert violations(page) == []
