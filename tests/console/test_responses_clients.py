"""One response rendered as answered; the masked client list and one client's invitations; home counts."""
from __future__ import annotations

import re

import pytest

from app.auth.models import Role
from app.extensions import db
from app.reviews.models import Channel
from tests.console.conftest import FULL_NAME, FULL_PHONE


def answer_block(page: str, question_id: str) -> str:
    match = re.search(rf'<li class="card aq[^"]*" id="a-{question_id}">.*?</li>\s*(?=<li class="card aq|</ol>)', page, re.S)
    assert match, f"question {question_id} not shown"
    return match.group()


@pytest.mark.parametrize("text_lang, chosen, flag", [
    ("zh-CN", "我司工作人员", "工作人员代客操作"),
    ("en", "Our staff", "Staff operated the account"),
])
def test_response_shows_chosen_labels_and_flags_in_the_language(client, sign_in, seed, text_lang, chosen, flag):
    sign_in(Role.REVIEW_EXECUTOR)
    page = client.get(f"/console/responses/{seed.response_id}?text={text_lang}").get_data(as_text=True)
    operator = answer_block(page, "operator")
    assert 'class="card aq flagged"' in operator and chosen in operator
    assert re.search(r'<span class="badge sev-high">[^<]+</span> <span class="flag-label">[^<]*' + flag, operator)


def test_response_lists_every_chosen_option_of_a_multiple_choice(client, sign_in, seed):
    sign_in(Role.REVIEW_EXECUTOR)
    block = answer_block(client.get(f"/console/responses/{seed.response_id}?text=en").get_data(as_text=True), "channels")
    assert re.findall(r"<li><strong>([^<]+)</strong>", block) == ["Mobile app", "Branch"]


def test_response_shows_only_the_questions_that_were_shown(client, sign_in, seed, make_invitation):
    from app.reviews.service import submit_response

    invitation = make_invitation()
    response, _ = submit_response(invitation, {"consent": "y", "own_operation": "yes", "age": "3",
                                               "satisfaction": "5"}, "en")
    db.session.commit()
    sign_in(Role.QUALITY_INSPECTOR)
    page = client.get(f"/console/responses/{response.id}").get_data(as_text=True)
    assert 'id="a-operator"' not in page  # hidden by its show_if
    assert "(no answer)" in answer_block(page, "comment")  # optional and left empty


def test_response_shows_receipt_version_hash_channel_and_time(client, sign_in, seed):
    from app.reviews.models import Response

    response = db.session.get(Response, seed.response_id)
    sign_in(Role.REVIEW_EXECUTOR)
    page = client.get(f"/console/responses/{seed.response_id}").get_data(as_text=True)
    assert f'id="receipt-no">{response.receipt_no}<' in page
    assert "all-types v1" in page and response.version_hash in page
    assert f'datetime="{response.submitted_at.isoformat()}"' in page
    assert FULL_PHONE not in page and FULL_NAME not in page


def test_response_keyed_from_paper_names_who_entered_it(client, sign_in, seed, make_invitation):
    from app.reviews.service import submit_response

    invitation = make_invitation()
    response, _ = submit_response(invitation, {"consent": "y", "own_operation": "yes", "age": "3",
                                               "satisfaction": "5"}, "zh-CN", entered_by="staff:clerk7",
                                  channel=Channel.LETTER)
    db.session.commit()
    sign_in(Role.REVIEW_EXECUTOR)
    page = client.get(f"/console/responses/{response.id}").get_data(as_text=True)
    assert 'id="entered-by">staff:clerk7<' in page


def test_unknown_response_is_404(client, sign_in, app):
    sign_in(Role.REVIEW_EXECUTOR)
    assert client.get("/console/responses/12345").status_code == 404


@pytest.mark.parametrize("url", ["/console/clients", "/console/clients/{id}"])
def test_client_pages_mask_name_phone_and_email(client, sign_in, seed, url):
    sign_in(Role.QUALITY_INSPECTOR)
    page = client.get(url.format(id=seed.client_id)).get_data(as_text=True)
    assert "138****1234" in page and "张*丰" in page and "c1@example.com" not in page
    assert FULL_PHONE not in page and FULL_NAME not in page


def test_client_search_matches_the_start_of_the_account(client, sign_in, app, make_client):
    for account in ("ZX1001", "ZX1002", "AB1001", "Z%X_01"):
        make_client(account=account)
    sign_in(Role.REVIEW_MANAGER)
    found = lambda q: re.findall(r'class="mono" href="/console/clients/\d+">([^<]+)<', client.get(  # noqa: E731
        "/console/clients", query_string={"account": q}).get_data(as_text=True))
    assert found("ZX") == ["ZX1001", "ZX1002"]
    assert found("Z%") == ["Z%X_01"]  # wildcards are matched literally
    assert found("") == ["AB1001", "Z%X_01", "ZX1001", "ZX1002"]


def test_client_page_lists_the_clients_invitations(client, sign_in, seed, make_invitation, make_client):
    make_invitation(client=make_client())  # someone else's
    sign_in(Role.QUALITY_INSPECTOR)
    page = client.get(f"/console/clients/{seed.client_id}").get_data(as_text=True)
    assert re.findall(r'/console/invitations/(\d+)">#', page) == [str(seed.invitation_id)]


def test_home_counts_invitations_responses_and_open_exceptions(client, sign_in, seed, make_invitation, days):
    make_invitation()
    late = make_invitation()
    late.expires_at = days(-2)
    db.session.commit()
    sign_in(Role.QUALITY_INSPECTOR)
    page = client.get("/console/").get_data(as_text=True)
    counts = dict(re.findall(r'data-status="([a-z]+)">(\d+)<', page))
    assert counts == {"pending": "1", "opened": "0", "completed": "1", "cancelled": "0", "expired": "1"}
    assert 'id="responses-7d">1<' in page
    assert 'id="open-exceptions">2<' in page  # the seed's response raised two flags


def test_home_shows_no_counts_to_an_auditor(client, sign_in, seed):
    sign_in(Role.AUDITOR)
    page = client.get("/console/").get_data(as_text=True)
    assert "responses-7d" not in page and "/console/questionnaires" in page and "/console/invitations" not in page
