"""A campaign refusal in the reader's language: Chinese on a console page for staff reading zh-CN,
English in the API's JSON whatever the caller's Accept-Language (systems match on it, the audit log keeps it)."""
import pytest

from app.auth.models import Role
from app.campaigns import service
from app.extensions import db
from tests.conftest import csrf_from

ZH = {"Accept-Language": "zh-CN"}


def post_form(client, page_url, url, data=None, **kwargs):
    """POST a console form as a zh-CN reader, with the CSRF token of the page that shows it."""
    page = client.get(page_url, headers=ZH)
    assert page.status_code == 200
    return client.post(url, data={"csrf_token": csrf_from(page.get_data(as_text=True)), **(data or {})},
                       headers=ZH, **kwargs)


def new_campaign_with_a_fax_channel(client, campaign):
    return post_form(client, "/console/campaigns/new", "/console/campaigns/new", {
        "name": "年度适当性回访", "questionnaire": campaign.version.questionnaire.key, "channel_plan": "sms,fax"})


def start_without_targets(client, campaign):
    return post_form(client, f"/console/campaigns/{campaign.id}", f"/console/campaigns/{campaign.id}/start")


def csv_with_an_unknown_account(client, campaign):
    import io

    upload = (io.BytesIO("account\nNOPE-404\n".encode()), "targets.csv")
    return post_form(client, f"/console/campaigns/{campaign.id}", f"/console/campaigns/{campaign.id}/targets",
                     {"csv": upload}, content_type="multipart/form-data")


def sample_with_a_word_for_seed(client, campaign):
    return post_form(client, f"/console/campaigns/{campaign.id}", f"/console/campaigns/{campaign.id}/sample",
                     {"as_of": "2025-12-31", "seed": "abc"})


@pytest.mark.parametrize("act, status, chinese, english", [
    (new_campaign_with_a_fax_channel, 422, "未知渠道“fax”（可选：", "unknown channel 'fax'"),
    (start_without_targets, 422, "回访任务还没有回访对象", "the campaign has no targets yet"),
    (csv_with_an_unknown_account, 422, "未知客户账号“NOPE-404”", "unknown client account"),
    (sample_with_a_word_for_seed, 422, "须为整数", "must be a whole number"),
], ids=["new-form", "start", "csv-import", "sample"])
def test_a_console_page_shows_the_refusal_in_chinese_to_a_zh_reader(client, login, make_campaign, act, status,
                                                                     chinese, english):
    login(Role.REVIEW_MANAGER)
    campaign = make_campaign()
    response = act(client, campaign)
    html = response.get_data(as_text=True)
    assert response.status_code == status
    assert chinese in html and english not in html


@pytest.mark.parametrize("setup, status, path, message", [
    (None, 422, "errors", "unknown client account 'NOPE-404'"),
    ("cancel", 409, "message", "status: the campaign is cancelled; targets cannot be added"),
    ("missing", 404, "message", "No such campaign."),
], ids=["row-error", "state", "no-campaign"])
def test_the_api_keeps_the_refusal_in_english_for_a_zh_caller(client, api_key, make_campaign, setup, status, path,
                                                              message):
    campaign = make_campaign()
    campaign_id = campaign.id
    if setup == "cancel":
        service.cancel_campaign(campaign, "test")
        db.session.commit()
    elif setup == "missing":
        campaign_id = 999_999
    response = client.post(f"/api/v1/campaigns/{campaign_id}/targets", json={"targets": [{"account": "NOPE-404"}]},
                           headers={**api_key, **ZH})
    error = response.get_json()["error"]
    assert response.status_code == status
    assert (error["errors"][0]["message"] if path == "errors" else error["message"]) == message
