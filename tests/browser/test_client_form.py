"""A client on a 390 px phone answers the built-in suitability questionnaire in real Chromium.

Each test opens the signed link, passes the identity check and works the real page; the tests that
submit then read the stored Response from the database.
"""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.reviews import service
from app.reviews.models import InvitationStatus, ReviewException
from tests.browser.conftest import link_path, save_screenshot

pytestmark = pytest.mark.browser

RECEIPT_RE = re.compile(r"^HF\d{8}-[2-9A-HJ-NP-Z]{6}$")
YES_TO_ALL = ("own_operation", "applied_of_own_will", "signed_voluntarily", "knows_business_rules",
              "read_risk_disclosure", "knows_risk_levels", "knows_fees", "knows_possible_losses")
DETAILS = "去年三月客户经理替我下单买入了一只股票。"
# What the full path stores: the violation answer and its follow-up are flagged (8.4).
EXPECTED_ANSWERS = {
    "is_account_holder": "yes", "review_consent": True, **{qid: "yes" for qid in YES_TO_ALL},
    "staff_violation": "yes", "staff_violation_kinds": ["operated_account"],
    "staff_violation_details": DETAILS, "sales_conduct": ["none"], "suggestions": "希望字再大一些。",
}


def choose(page, qid: str, value: str) -> None:
    """Tap the label of an option, as a client does."""
    page.locator(f'#q-{qid} label:has(input[value="{value}"])').click()


def start(phone, invitation, javascript: bool = True, locale: str = "zh-CN"):
    """Open the signed link on a phone and pass the identity check; returns the Phone."""
    client = phone(javascript=javascript, locale=locale)
    client.open(link_path(invitation))
    assert client.page.url.endswith("/identity")
    client.page.fill("#answer", "123X")
    client.page.locator("form button.primary").click()
    client.page.wait_for_url(re.compile(r"/q/[^/]+$"))
    return client


def answer_everything(page, screenshot: bool = False) -> None:
    """Answer every question the way EXPECTED_ANSWERS says, revealing the show_if follow-ups."""
    choose(page, "is_account_holder", "yes")
    page.locator("#q-review_consent label.choice").click()
    for qid in YES_TO_ALL:
        choose(page, qid, "yes")
    if screenshot:
        save_screenshot(page, "client-form")
    choose(page, "staff_violation", "yes")  # a violation: its follow-up questions appear
    choose(page, "staff_violation_kinds", "operated_account")
    page.locator("#q-staff_violation_details textarea").fill(DETAILS)
    choose(page, "sales_conduct", "none")
    page.locator("#q-suggestions textarea").fill(EXPECTED_ANSWERS["suggestions"])


def submit_and_read_receipt(page) -> str:
    page.get_by_role("button", name=re.compile("提交|Submit")).click()
    page.wait_for_url(re.compile(r"/receipt$"))
    return page.locator("#receipt-no").inner_text().strip()


def stored(invitation):
    """The stored response, read fresh from the database (the server wrote it in another thread)."""
    db.session.rollback()
    return service.stored_response(invitation.id)


def test_client_answers_every_question_and_the_stored_response_matches(phone, suitability_invitation):
    client = start(phone, suitability_invitation)
    follow_up = client.page.locator("#q-staff_violation_kinds")
    answer_everything(client.page, screenshot=True)
    assert follow_up.is_visible()
    receipt_no = submit_and_read_receipt(client.page)
    save_screenshot(client.page, "client-receipt")

    response = stored(suitability_invitation)
    assert RECEIPT_RE.match(receipt_no) and response.receipt_no == receipt_no
    assert response.answers == EXPECTED_ANSWERS
    assert response.version_hash == suitability_invitation.version.content_hash
    assert response.lang == "zh-CN" and response.flagged
    flagged = db.session.execute(sa.select(ReviewException.question_id, ReviewException.answer)
                                 .where(ReviewException.response_id == response.id)).all()
    assert sorted(tuple(row) for row in flagged) == [("staff_violation", "yes"), ("staff_violation_kinds", "operated_account")]
    db.session.refresh(suitability_invitation)
    assert suitability_invitation.status is InvitationStatus.COMPLETED


def test_follow_up_questions_stay_hidden_until_a_violation_is_chosen(phone, suitability_invitation):
    page = start(phone, suitability_invitation).page
    choose(page, "is_account_holder", "yes")
    choose(page, "staff_violation", "no")
    page.wait_for_timeout(1200)  # autosave round trip
    assert not page.locator("#q-staff_violation_kinds").is_visible()
    choose(page, "staff_violation", "yes")
    page.locator("#q-staff_violation_kinds").wait_for(state="visible")


def test_form_works_without_javascript(phone, suitability_invitation):
    client = start(phone, suitability_invitation, javascript=False)
    page = client.page
    questions = page.locator(".question")
    assert questions.count() == len(suitability_invitation.version.definition["questions"])
    assert all(questions.nth(i).is_visible() for i in range(questions.count()))
    answer_everything(page)
    receipt_no = submit_and_read_receipt(page)
    response = stored(suitability_invitation)
    assert response.receipt_no == receipt_no
    assert response.answers == EXPECTED_ANSWERS


def test_refresh_mid_way_keeps_the_answers(phone, suitability_invitation):
    page = start(phone, suitability_invitation).page
    choose(page, "is_account_holder", "yes")
    page.locator("#q-review_consent label.choice").click()
    choose(page, "own_operation", "no")
    with page.expect_response(lambda r: r.url.endswith("/draft") and r.ok):
        page.locator("#q-suggestions textarea").fill("稍后再填")
    page.reload()
    assert page.locator('#q-is_account_holder input[value="yes"]').is_checked()
    assert page.locator("#q-review_consent input").is_checked()
    assert page.locator('#q-own_operation input[value="no"]').is_checked()
    assert page.locator("#q-suggestions textarea").input_value() == "稍后再填"
    assert page.locator("#q-knows_fees").is_visible()


def test_english_through_the_language_switch(phone, suitability_invitation):
    client = phone()
    page = client.page
    client.open(link_path(suitability_invitation))
    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    page.fill("#answer", "123X")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/q/[^/]+$"))
    assert page.get_by_text("Do you operate the account yourself?").count() == 1
    answer_everything(page)
    submit_and_read_receipt(page)
    assert page.get_by_role("heading", name=re.compile("Thank you")).is_visible()
    assert stored(suitability_invitation).lang == "en"


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_no_page_scrolls_sideways_at_390px(phone, suitability_invitation, javascript):
    client = phone(javascript=javascript)
    page = client.page
    widths = {}
    client.open(link_path(suitability_invitation))
    widths["identity"] = page.evaluate("document.scrollingElement.scrollWidth")
    page.fill("#answer", "123X")
    page.locator("form button.primary").click()
    page.wait_for_url(re.compile(r"/q/[^/]+$"))
    choose(page, "is_account_holder", "yes")
    choose(page, "staff_violation", "yes")
    page.locator("#q-staff_violation_kinds").wait_for(state="visible")
    widths["form"] = page.evaluate("document.scrollingElement.scrollWidth")
    page.get_by_role("button", name=re.compile("提交|Submit")).click()  # errors make lines longer
    page.locator(".error-summary").wait_for()
    widths["form with errors"] = page.evaluate("document.scrollingElement.scrollWidth")
    answer_everything(page)
    submit_and_read_receipt(page)
    widths["receipt"] = page.evaluate("document.scrollingElement.scrollWidth")
    assert widths == {name: width for name, width in widths.items() if width <= 390}, widths


def test_no_console_errors_and_no_csp_violations_on_the_whole_path(phone, suitability_invitation):
    client = start(phone, suitability_invitation)
    page = client.page
    violations = client.csp_violations()
    answer_everything(page)
    page.get_by_text("已自动保存").wait_for()  # the autosave script ran and was answered
    violations += client.csp_violations()
    submit_and_read_receipt(page)
    violations += client.csp_violations()
    assert client.console_errors == []
    assert violations == []


@pytest.fixture
def static_hits(app):
    """The paths of the static files the live server was asked for, in order (304s included)."""
    hits = []
    inner = app.wsgi_app

    def recording(environ, start_response):
        if "static" in environ["PATH_INFO"]:
            hits.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    app.wsgi_app = recording
    yield hits
    app.wsgi_app = inner


def test_the_stylesheet_and_script_are_fetched_once_on_the_whole_path(phone, suitability_invitation, static_hits):
    # Identity page, form page, receipt: three pages on app.css, on a slow network each asking
    # again would cost a round trip (app/assets.py).
    client = start(phone, suitability_invitation)
    answer_everything(client.page)
    submit_and_read_receipt(client.page)
    assert static_hits.count("/static/css/app.css") == 1, static_hits
    assert static_hits.count("/static/js/form.js") == 1, static_hits


@pytest.mark.parametrize(("javascript", "shown"), [(True, 12), (False, 15)], ids=["js", "no-js"])
def test_questions_on_screen_are_numbered_without_gaps(phone, suitability_invitation, javascript, shown):
    page = start(phone, suitability_invitation, javascript=javascript).page
    choose(page, "is_account_holder", "yes")
    page.locator("#q-sales_conduct").wait_for(state="visible")  # with the script, follow-ups stay hidden
    numbers = page.locator(".question:visible .num").all_inner_texts()
    assert numbers == [f"{n}." for n in range(1, shown + 1)]


def test_error_summary_names_each_question_it_links_to(phone, suitability_invitation):
    page = start(phone, suitability_invitation).page
    choose(page, "is_account_holder", "yes")
    page.locator("#q-own_operation").wait_for(state="visible")
    page.get_by_role("button", name=re.compile("提交|Submit")).click()
    link = page.locator('.error-summary a[href="#q-own_operation"]')
    assert link.inner_text().startswith("请问账户是您本人操作吗")
    link.click()
    assert page.locator("#q-own_operation").is_visible()
    assert stored(suitability_invitation) is None


def test_chinese_page_shows_the_interface_in_chinese(phone, suitability_invitation):
    page = start(phone, suitability_invitation).page
    assert page.get_by_role("button", name="提交").count() == 1
    assert "I have read the above and agree" not in page.content()
