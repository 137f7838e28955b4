"""Invitation pages: the masked list and its filters, creating one, one invitation's detail."""
from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.auth.models import Role
from app.extensions import db
from app.reviews.models import IdentityAttempt, Invitation
from tests.console.conftest import FULL_NAME, FULL_PHONE, post, state

NEW = "/console/invitations/new"


def invitation_ids(page: str) -> set[int]:
    return {int(n) for n in re.findall(r'/console/invitations/(\d+)">#', page)}


@pytest.mark.parametrize("role", [Role.REVIEW_MANAGER, Role.REVIEW_EXECUTOR])
def test_invitation_list_masks_name_and_phone(client, sign_in, seed, role):
    sign_in(role)
    page = client.get("/console/invitations").get_data(as_text=True)
    assert "138****1234" in page and "张*丰" in page
    assert FULL_PHONE not in page and FULL_NAME not in page


def test_status_filter_uses_the_effective_status(client, sign_in, seed, make_invitation, days):
    expired = make_invitation()
    expired.expires_at = days(-1)  # still "pending" in the table, expired for the client
    db.session.commit()
    pending = make_invitation()
    sign_in(Role.QUALITY_INSPECTOR)
    listed = {status: invitation_ids(client.get(f"/console/invitations?status={status}").get_data(as_text=True))
              for status in ("expired", "pending", "completed")}
    assert listed == {"expired": {expired.id}, "pending": {pending.id}, "completed": {seed.invitation_id}}


def test_questionnaire_and_review_type_filters_narrow_the_list(client, sign_in, seed, publish, make_invitation):
    other = make_invitation(version=publish("new_account"), context={})
    sign_in(Role.QUALITY_INSPECTOR)
    by_key = invitation_ids(client.get(f"/console/invitations?questionnaire={other.version.questionnaire.key}").get_data(as_text=True))
    by_type = invitation_ids(client.get("/console/invitations?review_type=suitability").get_data(as_text=True))
    assert by_key == {other.id} and by_type == {seed.invitation_id}


def test_unknown_filter_values_are_ignored(client, sign_in, seed):
    sign_in(Role.QUALITY_INSPECTOR)
    response = client.get("/console/invitations?status=bogus&review_type=nope")
    assert response.status_code == 200 and invitation_ids(response.get_data(as_text=True)) == {seed.invitation_id}


def test_invitation_form_asks_for_exactly_the_placeholders_the_version_needs(client, sign_in, publish):
    version = publish("complaint_closure")
    sign_in(Role.REVIEW_MANAGER)
    page = client.get(f"{NEW}?version={version.questionnaire.key}:{version.number}").get_data(as_text=True)
    asked = set(re.findall(r'name="ctx_([a-z_]+)"', page))
    from questionnaires.placeholders import AUTO_FILLED, placeholders_in
    assert asked == placeholders_in(version.definition) - AUTO_FILLED
    assert asked and not asked & AUTO_FILLED


def test_creating_an_invitation_shows_its_links_and_is_audited(client, sign_in, seed):
    user = sign_in(Role.REVIEW_MANAGER)
    response = post(client, NEW, {"version": "all-types:2", "client_account": "A0000001", "channel": "sms",
                                  "expires_on": "2099-12-31", "ctx_product_name": "稳健理财1号"})
    assert response.status_code == 303
    invitation = db.session.scalars(sa.select(Invitation).order_by(Invitation.id.desc()).limit(1)).one()
    assert invitation.context == {"product_name": "稳健理财1号"} and invitation.version.number == 2
    assert invitation.expires_at.isoformat() == "2099-12-31T15:59:59+00:00"  # end of the day, UTC+8
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert re.search(r'id="short-url" href="http://localhost/s/' + invitation.short_code, page)
    assert re.search(r'id="signed-url" href="http://localhost/q/[^"]+"', page)
    entry = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
    assert (entry.action, entry.actor) == ("invitation.create", f"staff:{user.username}")


def test_missing_placeholder_is_refused_naming_it(client, sign_in, seed):
    sign_in(Role.REVIEW_MANAGER)
    before = state()
    response = post(client, NEW, {"version": "all-types:2", "client_account": "A0000001", "channel": "link",
                                  "ctx_product_name": "  "})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert '<p class="error" id="ctx_product_name-error">Enter a value for {product_name}.</p>' in page
    assert 'href="#ctx_product_name"' in page  # the summary links to the field
    assert state() == before


def test_placeholder_the_client_record_cannot_fill_is_named(client, sign_in, app, publish, make_client):
    version = publish("suitability")  # uses {client_risk_level}
    make_client(account="NORISK01", risk_level=None)
    sign_in(Role.REVIEW_MANAGER)
    data = {"version": f"{version.questionnaire.key}:{version.number}", "client_account": "NORISK01", "channel": "link"}
    page = client.get(f"{NEW}?version={data['version']}").get_data(as_text=True)
    data.update({f"ctx_{name}": "x" for name in re.findall(r'name="ctx_([a-z_]+)"', page)})
    before = state()
    response = post(client, NEW, data)
    assert response.status_code == 422
    assert "{client_risk_level} is filled from the client record" in response.get_data(as_text=True)
    assert state() == before


@pytest.mark.parametrize("change, field_id, message", [
    ({"client_account": "NOSUCH99"}, "client_account", "unknown client account"),
    ({"client_account": ""}, "client_account", "Enter the client's account number."),
    ({"channel": "pigeon"}, "channel", ""),  # WTForms' own (translated) message
    ({"expires_on": "2001-01-01"}, "expires_on", "must be in the future"),
    ({"expires_on": "tomorrow"}, "expires_on", ""),
])
def test_bad_invitation_input_names_the_field_and_stores_nothing(client, sign_in, seed, change, field_id, message):
    sign_in(Role.REVIEW_MANAGER)
    data = {"version": "all-types:2", "client_account": "A0000001", "channel": "link",
            "ctx_product_name": "稳健理财1号", **change}
    before = state()
    response = post(client, NEW, data)
    assert response.status_code == 422
    error = re.search(rf'<p class="error" id="{field_id}-error">([^<]+)</p>', response.get_data(as_text=True))
    assert error and message in html.unescape(error.group(1))
    assert state() == before


def test_retired_version_cannot_be_chosen(client, sign_in, seed):
    sign_in(Role.REVIEW_MANAGER)
    post(client, "/console/questionnaires/all-types/v2/retire", {"confirm": "y"})
    before = state()
    response = post(client, NEW, {"version": "all-types:2", "client_account": "A0000001", "channel": "link",
                                  "ctx_product_name": "x"})
    assert response.status_code == 422
    assert "published and not retired" in response.get_data(as_text=True)
    assert 'value="all-types:2"' not in client.get(NEW).get_data(as_text=True)
    assert state() == before


def test_invitation_detail_shows_identity_tries_and_lock(client, sign_in, seed, make_invitation, days):
    invitation = make_invitation()
    db.session.add_all([IdentityAttempt(invitation_id=invitation.id, succeeded=ok) for ok in (False, False, True)])
    invitation.locked_until = days(1)
    db.session.commit()
    sign_in(Role.REVIEW_EXECUTOR)
    page = client.get(f"/console/invitations/{invitation.id}").get_data(as_text=True)
    assert 'id="identity-attempts">3<' in page and 'id="identity-failures">2<' in page
    assert re.search(r'id="lock-state"><span class="badge sev-high">Locked until', page)
    assert FULL_PHONE not in page


def test_invitation_detail_links_its_response(client, sign_in, seed):
    sign_in(Role.REVIEW_EXECUTOR)
    page = client.get(f"/console/invitations/{seed.invitation_id}").get_data(as_text=True)
    assert f'href="/console/responses/{seed.response_id}" id="response-link"' in page
    assert "Completed" in page


def test_unknown_invitation_is_404(client, sign_in, app):
    sign_in(Role.REVIEW_MANAGER)
    assert client.get("/console/invitations/999").status_code == 404


@pytest.mark.parametrize("change, field_id, reason", [
    ({"client_account": "NOSUCH99"}, "client_account", "未知客户账号“NOSUCH99”"),
    ({"expires_on": "2001-01-01"}, "expires_on", "须为将来的时间"),
])
def test_the_services_refusal_reads_in_chinese_on_a_chinese_page(client, sign_in, seed, change, field_id, reason):
    sign_in(Role.REVIEW_MANAGER)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    response = post(client, NEW, {"version": "all-types:2", "client_account": "A0000001", "channel": "link",
                                  "ctx_product_name": "稳健理财1号", **change})
    assert response.status_code == 422
    error = re.search(rf'<p class="error" id="{field_id}-error">([^<]+)</p>', response.get_data(as_text=True))
    assert error and html.unescape(error.group(1)) == reason


def test_the_same_refusal_through_the_api_stays_english(client, api_key, seed):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    response = client.post("/api/v1/invitations", headers=api_key,
                           json={"client_account": "NOSUCH99", "questionnaire": "all-types"})
    assert response.status_code == 422
    assert response.json["error"]["message"] == "client_account: unknown client account 'NOSUCH99'"
