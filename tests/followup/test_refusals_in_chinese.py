"""A refused follow-up step reads in the staff's language: the service's reason from the zh-CN catalog."""
from __future__ import annotations

import html
import re

import pytest

from app.auth.models import Role, StaffUser
from app.extensions import db
from app.followup import service
from tests.followup.conftest import post


def refusal(response) -> str:
    """The text of the page's error summary (the reason shown under "Nothing was saved")."""
    match = re.search(r'<p data-field="[^"]*">(.*?)</p>', response.get_data(as_text=True), re.S)
    assert match, "no refusal on the page"
    return html.unescape(match.group(1))


@pytest.mark.parametrize("lang, reason", [
    ("zh-CN", "请写明发现的情况或作出的决定"),
    ("en", "please write what was found or decided"),
])
def test_an_empty_finding_is_refused_in_the_readers_language(client, sign_in, exception, lang, reason):
    sign_in(Role.REVIEW_MANAGER)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    response = post(client, f"/console/exceptions/{exception.id}/findings", {"note": "  "})
    assert response.status_code == 422 and refusal(response) == reason


@pytest.mark.parametrize("path, form, reason", [
    ("close", {"outcome": "shrug", "note": "x"}, "请选择处理结果"),
    ("unmask", {"reason": "看"}, "请说明需要查看完整信息的原因（4 至 300 个字符）"),
    ("objections", {"party": "branch", "raised_by": "", "content": "x"}, "请填写提出异议的单位或人员（最多 100 个字符）"),
])
def test_refused_steps_read_in_chinese_on_a_chinese_page(client, sign_in, exception, path, form, reason):
    sign_in(Role.REVIEW_MANAGER)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    response = post(client, f"/console/exceptions/{exception.id}/{path}", form)
    assert response.status_code == 422 and refusal(response) == reason


def test_the_servicing_staff_refusal_names_the_person_in_chinese(client, sign_in, exception):
    conflicted = StaffUser(username="svc", display_name="李四", role=Role.REVIEW_EXECUTOR, staff_code="S001",
                           password_hash="!x")
    db.session.add(conflicted)
    db.session.commit()
    sign_in(Role.REVIEW_MANAGER)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    response = post(client, f"/console/exceptions/{exception.id}/assign", {"assignee_id": conflicted.id})
    assert response.status_code == 422 and refusal(response) == "李四 为此客户提供服务，不得跟进此异常（6.3）"


def test_a_bad_qc_score_names_the_indicator_and_the_reason_in_chinese(client, sign_in, app):
    sign_in(Role.QUALITY_INSPECTOR)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    form = {"unit": "上海分公司", "period": "2026", **{k: "90" for k in service.APPENDIX_B_WEIGHTS}, "policy_process": "很好"}
    response = post(client, "/console/qc", form)
    assert response.status_code == 422 and refusal(response) == "制度与流程: 请填写 0 至 100 的分数"


def test_the_refusal_kept_by_the_exception_stays_english(exception):
    """What the service raises (and a CLI prints) is the English sentence, whatever a page shows."""
    with pytest.raises(service.FollowupError) as refused:
        service.add_finding(exception, "", "tester")
    assert str(refused.value) == "note: please write what was found or decided"
