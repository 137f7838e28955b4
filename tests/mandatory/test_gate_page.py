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
