"""Refusals of the callbacks area: Chinese on a Chinese console page, English for the API and the log."""
from __future__ import annotations

import html

import pytest

from app.auth.models import Role
from app.phrases import localized
from app.webhooks import service
from tests.console.conftest import sign_in  # noqa: F401  (pytest fixture)


def test_an_unknown_status_filter_reads_in_chinese_on_a_chinese_page(client, sign_in):  # noqa: F811
    sign_in(Role.REVIEW_MANAGER)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    response = client.get("/console/webhooks/?status=lost")
    assert response.status_code == 422
    assert "status：须为 pending, delivered, dead 之一" in html.unescape(response.get_data(as_text=True))


def test_the_same_refusal_through_the_api_stays_english(client, hook_key):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    response = client.get("/api/v1/webhooks/events?status=lost", headers=hook_key[2])
    assert response.status_code == 422
    assert response.json["error"]["message"] == "status: one of pending, delivered, dead"


def test_a_refused_callback_url_is_english_text_with_a_chinese_reason_for_pages(app, hook_key):
    with pytest.raises(service.CallbackUrlError) as caught:
        service.check_callback_url(hook_key[0], "http://10.0.0.5/hook")
    refused = caught.value
    assert str(refused) == ("callback_url: not under an allowed callback prefix of this API key "
                            "(http://127.0.0.1:)")
    assert refused.field == "callback_url"
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert localized(refused.message) == "不在此 API 密钥允许的回调前缀之下（http://127.0.0.1:）"
