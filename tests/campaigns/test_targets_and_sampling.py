"""Targets from CSV (all rows or none), from the API, and the seeded stratified sample (5.1.4, 5.1.5)."""
from datetime import date

import pytest
import sqlalchemy as sa

from app.campaigns import service
from app.campaigns.models import CampaignTarget
from app.extensions import db
from tests.conftest import csrf_from


def count_targets():
    return db.session.scalar(sa.select(sa.func.count()).select_from(CampaignTarget))


def test_csv_with_a_bad_row_imports_nothing_and_names_each_line(make_campaign, make_client):
    campaign = make_campaign()
    a, b = make_client(), make_client()
    text = f"account,product_name\n{a.account},理财1号\nNOPE9999,x\n{b.account},y\n{a.account},z\n"
    with pytest.raises(service.TargetImportError) as err:
        service.import_targets_csv(campaign, text, "test")
    db.session.rollback()
    assert [(e.row, e.field) for e in err.value.errors] == [(3, "account"), (5, "account")]
    assert "unknown client account" in err.value.errors[0].message and "duplicate of row 2" in err.value.errors[1].message
    assert count_targets() == 0


def test_csv_extra_columns_fill_placeholders(make_campaign, make_client):
    campaign = make_campaign()
    client = make_client()
    assert service.import_targets_csv(campaign, f"account,product_name\n{client.account},理财2号\n", "test") == 1
    assert db.session.scalars(sa.select(CampaignTarget)).one().context == {"product_name": "理财2号"}


def test_abnormal_targets_need_the_detection_time(make_campaign, make_client, publish):
    campaign = make_campaign(version=publish("abnormal"), context={})
    with pytest.raises(service.TargetImportError, match="event_at"):
        service.import_targets_csv(campaign, f"account\n{make_client().account}\n", "test")


def test_api_adds_targets(client, api_key, make_campaign, make_client):
    campaign = make_campaign()
    c = make_client()
    response = client.post(f"/api/v1/campaigns/{campaign.id}/targets", json={"targets": [{"account": c.account}]},
                           headers=api_key)
    assert response.status_code == 201 and response.json == {"campaign_id": campaign.id, "added": 1}


@pytest.mark.parametrize("body, status, field", [
    ({"targets": [{"account": "NOPE0000"}]}, 422, "targets"),
    ({"targets": []}, 400, "targets"),
    ({"targets": [{"account": "A0000001", "callback_url": "https://evil.example/x"}]}, 422, "targets"),
])
def test_api_bad_targets_are_refused_and_change_nothing(client, api_key, make_campaign, make_client, body, status, field):
    campaign = make_campaign()
    make_client(account="A0000001")
    response = client.post(f"/api/v1/campaigns/{campaign.id}/targets", json=body, headers=api_key)
    assert response.status_code == status and response.json["error"]["field"] == field
    assert count_targets() == 0


def test_api_needs_a_key(client, make_campaign):
    assert client.post(f"/api/v1/campaigns/{make_campaign().id}/targets", json={"targets": []}).status_code == 401


def test_sample_is_reproducible_with_the_same_seed(make_campaign, population):
    first, second = make_campaign(), make_campaign()
    spec = service.SampleSpec(as_of=date(2025, 12, 31), seed=42)
    service.draw_sample(first, spec, "test")
    service.draw_sample(second, spec, "test")
    chosen = lambda c: set(db.session.scalars(sa.select(CampaignTarget.client_id).where(CampaignTarget.campaign_id == c.id)))
    assert chosen(first) == chosen(second)
    other = make_campaign()
    service.draw_sample(other, service.SampleSpec(as_of=date(2025, 12, 31), seed=7), "test")
    assert chosen(other) != chosen(first)


def test_sample_excludes_dormant_and_suspended_includes_all_above_tolerance_and_more_r5(make_campaign, population):
    campaign = make_campaign()
    summary = service.draw_sample(campaign, service.SampleSpec(as_of=date(2025, 12, 31), seed=1, ratio=0.1,
                                                               r5_ratio=0.5), "test")
    assert summary["population"] == 200
    assert summary["selected"] >= summary["required"] == 20
    assert summary["exceeds_selected"] == summary["exceeds_population"] == 5
    assert summary["r5_selected"] >= 10
    ratios = service.sampling_ratios(campaign)
    assert ratios[0]["sampled"] >= ratios[0]["required"] and ratios[1]["sampled"] >= 0.5


def test_console_creates_a_campaign_and_shows_its_progress(client, login, publish):
    login()
    publish()
    page = client.get("/console/campaigns/new")
    response = client.post("/console/campaigns/new", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "name": "年度适当性回访", "questionnaire": "all-types",
        "channel_plan": "sms,email,letter", "reminder_days": "3,7", "quiet_start": "21:00", "quiet_end": "08:00"})
    assert response.status_code == 303
    detail = client.get(response.headers["Location"])
    assert "年度适当性回访" in detail.get_data(as_text=True)
    progress = client.get(response.headers["Location"] + "/progress.json").json
    assert progress["status"] == "draft" and progress["total"] == 0


def test_console_bad_channel_is_refused_naming_the_field_and_creates_nothing(client, login, publish):
    login()
    publish()
    page = client.get("/console/campaigns/new")
    response = client.post("/console/campaigns/new", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "name": "x", "questionnaire": "all-types",
        "channel_plan": "sms,fax"})
    assert response.status_code == 422 and "channel_plan" in response.get_data(as_text=True)
    assert service.list_campaigns() == []


def test_follow_up_export_is_for_managers_only(client, login, make_campaign):
    from app.auth.models import Role

    campaign = make_campaign()
    login(Role.AUDITOR)
    assert client.get(f"/console/campaigns/{campaign.id}/followups.csv").status_code == 403


@pytest.mark.parametrize("field", ["name", "sms_text", "email_subject"])
def test_a_campaign_text_longer_than_its_column_is_refused_naming_the_field(app, publish, field):
    version = publish()
    values = {"name": "x", "questionnaire_key": version.questionnaire.key, "channel_plan": ["sms", "email"],
              field: "长" * 201}
    spec = service.CampaignSpec(**values)
    with pytest.raises(service.InvalidRequest) as error:
        service.create_campaign(spec, "test")
    assert error.value.field == field
    db.session.rollback()
    assert service.list_campaigns() == []
