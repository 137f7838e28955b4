"""The console's sample form (5.1.4, 5.1.5, 5.1.6 d): a review manager draws a seeded, stratified
sample (same seed → same clients) and the campaign page shows the achieved vs required ratios;
a quality inspector may look but not draw; bad fields are refused by name and change nothing."""
import re

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.auth.models import Role
from app.campaigns.models import Campaign, CampaignTarget
from app.extensions import db
from tests.conftest import csrf_from

RATIO_ROW = re.compile(r"<tr><td>([^<]+)</td><td>(\d+)</td><td>([\d.]+%)</td>\s*<td>([^<]+)</td><td>([^<]+)</td></tr>")
FORM = {"as_of": "2025-12-31", "seed": "2026", "ratio": "0.10", "r5_ratio": "0.30"}


def draw(client, campaign, **fields):
    page = client.get(f"/console/campaigns/{campaign.id}")
    assert page.status_code == 200
    return client.post(f"/console/campaigns/{campaign.id}/sample",
                       data={"csrf_token": csrf_from(page.get_data(as_text=True)), **FORM, **fields})


def chosen(campaign):
    return set(db.session.scalars(sa.select(CampaignTarget.client_id).where(CampaignTarget.campaign_id == campaign.id)))


def ratio_rows(html):
    """{label: (population, required, sampled, reviewed)} of the sampling table."""
    return {m.group(1): m.groups()[1:] for m in RATIO_ROW.finditer(html)}


def test_manager_draws_a_sample_and_the_page_shows_achieved_against_required(client, login, make_campaign,
                                                                               population):
    login(Role.REVIEW_MANAGER)
    campaign = make_campaign()
    response = draw(client, campaign)
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/console/campaigns/{campaign.id}")
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Sampling: achieved vs required" in html and "Seed 2026" in html
    # 200 in the population (30 dormant/suspended left out); per branch: 9 of 90 others (the 5 above
    # tolerance among them), 3 of 10 R5 holders → 24 of 200, 6 of 20 R5, 5 of 5 above tolerance.
    assert ratio_rows(html) == {
        "All product/service clients (5.1.5)": ("200", "10.0%", "12.0%", "0.0%"),
        "R5 holders (5.1.6 d)": ("20", "30.0%", "30.0%", "0.0%"),
        "Product risk above tolerance (always included)": ("5", "100.0%", "100.0%", "—"),
    }
    assert len(chosen(campaign)) == 24


def test_the_same_seed_draws_the_same_clients_and_another_seed_others(client, login, make_campaign, population):
    login(Role.REVIEW_MANAGER)
    first, second, other = make_campaign(), make_campaign(), make_campaign()
    assert draw(client, first).status_code == 303
    assert draw(client, second).status_code == 303
    assert draw(client, other, seed="7").status_code == 303
    assert chosen(first) == chosen(second) and len(chosen(first)) == 24
    assert chosen(other) != chosen(first)
    assert db.session.get(Campaign, first.id).sampling["seed"] == 2026


def test_a_quality_inspector_may_not_draw_a_sample(client, login, make_campaign, population):
    login(Role.QUALITY_INSPECTOR)
    campaign = make_campaign()
    page = client.get(f"/console/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Draw sample" not in page
    response = draw(client, campaign)
    assert response.status_code == 403
    db.session.expire_all()
    assert chosen(campaign) == set() and db.session.get(Campaign, campaign.id).sampling is None


@pytest.mark.parametrize("fields, field", [
    ({"seed": "abc"}, "seed"),
    ({"seed": ""}, "seed"),
    ({"as_of": "31/12/2025"}, "as_of"),
    ({"as_of": "2024-12-31"}, "as_of"),  # no year-end figures recorded for that date
    ({"ratio": "0"}, "ratio"),
    ({"ratio": "ten percent"}, "ratio"),
    ({"r5_ratio": "0.05"}, "r5_ratio"),  # below the general ratio
])
def test_bad_sample_fields_are_refused_naming_the_field_and_change_nothing(client, login, make_campaign, population,
                                                                           fields, field):
    login(Role.REVIEW_MANAGER)
    campaign = make_campaign()
    audit = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    response = draw(client, campaign, **fields)
    assert response.status_code == 422 and f"{field}: " in response.get_data(as_text=True)
    db.session.expire_all()
    assert chosen(campaign) == set() and db.session.get(Campaign, campaign.id).sampling is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == audit
