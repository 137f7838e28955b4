"""A filter or report refusal reads in the staff's language on the statistics pages."""
from __future__ import annotations

from html import unescape

import pytest

from app.auth.models import Role
from tests.stats.conftest import post

ZH = {"Accept-Language": "zh-CN"}


@pytest.mark.parametrize("query, shown", [
    ("from=2026-05-01&to=2026-04-01", "结束日期（2026-04-01）早于开始日期（2026-05-01），请对调两个日期"),
    ("channel=pigeon", "未知的渠道“pigeon”"),
    ("from=2026-13-01", "日期须按 YYYY-MM-DD 格式填写"),
])
def test_the_statistics_page_gives_the_filter_refusal_in_chinese(client, sign_in, population, query, shown):
    sign_in(Role.REVIEW_MANAGER)
    response = client.get(f"/console/stats/?{query}", headers=ZH)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and shown in page


def test_the_statistics_page_gives_the_filter_refusal_in_english_on_request(client, sign_in, population):
    sign_in(Role.REVIEW_MANAGER)
    response = client.get("/console/stats/?channel=pigeon", headers={"Accept-Language": "en"})
    assert response.status_code == 422 and "unknown channel 'pigeon'" in unescape(response.get_data(as_text=True))


@pytest.mark.parametrize("send, shown", [
    (lambda client: client.get("/console/stats/export.csv?to=tomorrow", headers=ZH), "日期须按 YYYY-MM-DD 格式填写"),
    (lambda client: client.get("/console/stats/export.csv?labels=fr", headers=ZH), "请选择 zh-CN 或 en"),
    (lambda client: post(client, "/console/stats/yearly.pdf", {"year": "26"}, headers=ZH), "请输入年份，例如 2026"),
])
def test_an_export_or_report_refusal_page_reads_in_chinese(client, sign_in, population, send, shown):
    sign_in(Role.REVIEW_MANAGER)
    response = send(client)
    assert response.status_code == 422 and shown in response.get_data(as_text=True)
