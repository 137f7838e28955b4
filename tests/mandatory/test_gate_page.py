"""The gate page over HTTP: non-dismissable, framable only by the key's origins, drafts kept."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest


GOOD = {"consent": "y", "own_operation": "yes", "age": "12", "satisfaction": "4"}


@pytest.fixture
def gate(client, hook_key, make_client, publish):
    client_row, version = make_client(), publish()
    created = client.post("/api/v1/mandatory-sessions", headers=hook_key[2], json={
        "client_account": client_row.account, "questionnaire": version.questionnaire.key,
        "context": {"product_name": "稳健理财1号"}})
    return urlsplit(created.json["url"]).path


def test_gate_shows_the_form_without_identity_step_or_save_later(client, gate):
    page = client.get(gate)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="qform"' in html
    assert 'value="save"' not in html and "/identity" not in html


def test_every_link_and_form_on_the_gate_stays_on_the_gate(client, gate):
    html = client.get(gate).get_data(as_text=True)
    for href in re.findall(r'<a [^>]*href="([^"]*)"', html):
        target = urlsplit(href)
        assert not target.scheme and not target.netloc and target.path in ("", gate), href
    for action in re.findall(r'<form [^>]*action="([^"]*)"', html):
        assert urlsplit(action).path in (gate, gate + "/draft"), action


def test_gate_may_be_framed_only_by_the_keys_origins(client, gate):
    response = client.get(gate)
    assert "frame-ancestors http://127.0.0.1:9" in response.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in response.headers


def test_other_pages_still_refuse_framing(client, gate):
    response = client.get(gate + "x")  # a tampered link: the 404 page is not framable
    assert response.status_code == 404 and "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_answers_survive_a_refresh_through_the_draft(client, gate):
    saved = client.post(gate + "/draft", data={"own_operation": "yes", "age": "33"})
    assert saved.status_code == 200 and saved.json["saved"] is True
    html = client.get(gate).get_data(as_text=True)
    assert 'value="33"' in html and re.search(r'value="yes"[^>]*checked|checked[^>]*value="yes"', html)


def test_incomplete_answers_are_422_and_kept(client, gate):
    response = client.post(gate, data={"age": "41"})
    assert response.status_code == 422 and 'value="41"' in response.get_data(as_text=True)
    assert 'value="41"' in client.get(gate).get_data(as_text=True)


def test_gate_needs_no_cookie_to_submit_inside_a_cross_site_frame(app, gate):
    fresh = app.test_client(use_cookies=False)
    response = fresh.post(gate, data=GOOD)
    assert response.status_code == 303
    assert b"gate-done" in fresh.get(gate).data


def test_tampered_gate_link_is_404(client, gate):
    assert client.get(gate[:-3] + "abc").status_code == 404


def test_finish_page_posts_only_to_configured_origins(client, gate):
    client.post(gate, data=GOOD)
    html = client.get(gate).get_data(as_text=True)
    assert "huifang.mandatory_session.finished" in html.replace("&#34;", '"').replace("&quot;", '"')
    assert 'data-origins="[&#34;http://127.0.0.1:9&#34;]"' in html or "http://127.0.0.1:9" in html


def test_gate_script_traps_the_back_button(client):
    response = client.get("/m-static/gate.js")
    script = response.get_data(as_text=True)
    response.close()
    assert "pushState" in script and "popstate" in script


def numbers_on(html: str) -> list[str]:
    return re.findall(r'<span class="num">(\d+)\.</span>', html)


def test_gate_numbers_its_questions_as_the_form_page_does(client, gate, make_invitation):
    """A consent shows no number, so it takes none: the first numbered question is 1."""
    from tests.test_respond_flow import pass_identity, path_of

    invitation = make_invitation()
    pass_identity(client, invitation)
    form_numbers = numbers_on(client.get(path_of(invitation)).get_data(as_text=True))
    gate_numbers = numbers_on(client.get(gate).get_data(as_text=True))
    assert gate_numbers == form_numbers == [str(n) for n in range(1, len(form_numbers) + 1)]


def test_gate_error_summary_names_the_question_of_each_error(client, gate):
    html = client.post(gate, data={"consent": "y", "age": "12", "satisfaction": "4"},
                       headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    summary = html.split('id="error-summary"', 1)[1].split("</ul>", 1)[0]
    assert '<a href="#q-own_operation"><span class="summary-q">请问账户是您本人操作吗？</span>' in summary


@pytest.fixture
def suitability_gate(client, hook_key, make_client, publish):
    """Opens a gate on the built-in suitability review, whose texts name the client and product."""
    publish("suitability")

    def open_gate(name: str, product: str) -> str:
        created = client.post("/api/v1/mandatory-sessions", headers=hook_key[2], json={
            "client_account": make_client(name=name).account, "questionnaire": "suitability",
            "context": {"product_name": product, "product_risk": "R3"}})
        assert created.status_code == 201, created.json
        return urlsplit(created.json["url"]).path

    return open_gate


def test_a_gate_from_cached_blocks_equals_one_rendered_in_full_and_shows_only_its_client(app, client,
                                                                                       suitability_gate):
    from app.extensions import cache
    from tests.test_form_fragments import cached_blocks

    zh = {"Accept-Language": "zh-CN"}
    client.get(suitability_gate("王秀英", "沪深300指数增强私募基金"), headers=zh)  # fills the cache
    second = suitability_gate("李建国", "国债逆回购")
    from_cache = client.get(second, headers=zh).get_data(as_text=True)
    blocks = "".join(cached_blocks(app))
    with app.app_context():
        cache.clear()
    assert from_cache == client.get(second, headers=zh).get_data(as_text=True)
    assert "李建国" in from_cache and "国债逆回购" in from_cache
    assert "王秀英" not in from_cache and "沪深300" not in from_cache
    assert blocks and not any(word in blocks for word in ("王秀英", "李建国", "沪深300", "国债逆回购"))


def test_first_gate_visit_marks_the_invitation_opened(app, client, gate):
    from app.extensions import db
    from app.mandatory.models import MandatorySession
    from app.reviews.models import InvitationStatus

    assert client.get(gate).status_code == 200
    db.session.rollback()  # what was stored, not what this session remembers
    invitation = db.session.scalars(db.select(MandatorySession)).one().invitation
    assert invitation.status is InvitationStatus.OPENED and invitation.first_opened_at is not None


def test_a_gate_visit_reads_each_row_once(client, gate, count_statements):
    """Session, key, invitation, version, client: the "opened" mark is written after the page,
    so a commit does not make the page read them again."""
    from app.extensions import db

    for visit in ("first", "again"):
        db.session.commit()
        count_statements.clear()
        assert client.get(gate).status_code == 200
        reads = [s.split("FROM", 1)[1].split()[0] for s in count_statements if s.lstrip().startswith("SELECT")]
        assert sorted(reads) == sorted(set(reads)) and len(reads) == 5, (visit, reads)


def test_completed_gates_are_not_counted_against_the_address_and_refused_submits_are(app_with, client, hook_key,
                                                                                        make_client, publish):
    # A branch's tablets, or an app's users behind one carrier address, submit from one address.
    limited = app_with(RATELIMIT_ENABLED=True)  # counts in a storage of its own (each init_app makes one)
    version = publish()

    def new_gate() -> str:
        created = client.post("/api/v1/mandatory-sessions", headers=hook_key[2], json={
            "client_account": make_client().account, "questionnaire": version.questionnaire.key,
            "context": {"product_name": "稳健理财1号"}})
        return urlsplit(created.json["url"]).path

    browser = limited.test_client()
    assert [browser.post(new_gate(), data=GOOD).status_code for _ in range(65)] == [303] * 65
    refused = new_gate()
    assert [browser.post(refused, data={"age": "41"}).status_code for _ in range(61)] == [422] * 60 + [429]


def test_a_gate_over_its_limit_says_so_inside_the_business_systems_frame(app_with, gate):
    limited = app_with(RATELIMIT_ENABLED=True)  # counts in a storage of its own (each init_app makes one)
    browser = limited.test_client()
    assert {browser.post(gate, data={"age": "41"}).status_code for _ in range(60)} == {422}
    refused = browser.post(gate, data={"age": "41"})
    assert refused.status_code == 429 and "Please wait a minute" in refused.get_data(as_text=True)
    # Framable by the key's origins, as the gate's other pages: not a blank frame in the business system.
    assert "frame-ancestors http://127.0.0.1:9" in refused.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in refused.headers
