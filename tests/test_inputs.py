"""Input that once reached the database and failed there (a 500) is refused at the door.

Found by schemathesis (tests/test_api_schema.py) on PostgreSQL and SQLite: NUL characters, which
PostgreSQL cannot store, and ids past an INTEGER column's range. Each case here also runs where
schemathesis does not go: the client's form, the console, CSV imports.
"""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from app.campaigns.service import TargetImportError, import_targets_csv
from app.clients.models import Client
from app.clients.service import ClientImportError, import_csv
from app.definitions.service import publish_text
from app.extensions import db
from app.followup.service import APPENDIX_B_WEIGHTS
from app.reviews.models import Response
from tests.conftest import csrf_from
from tests.console.conftest import ALL_TYPES_V2
from tests.test_respond_flow import pass_identity, ready_to_submit

HUGE = "99999999999999999999999"  # past 64 bits: SQLite's INTEGER too
PAST_INT32 = "2147483648"  # past PostgreSQL's INTEGER, within SQLite's


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_a_nul_in_an_api_body_is_refused_with_its_json_path_and_writes_nothing(client, api_key):
    rows = [{"account": "A1000001", "name": "张三"}, {"account": "A1000002", "name": "李四", "postal_address": "上海\x00"}]
    response = client.post("/api/v1/clients", data=json.dumps(rows),
                           headers={**api_key, "Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json["error"]["field"] == "[1].postal_address"
    assert count(Client) == 0


@pytest.mark.parametrize("path, field", [
    ("/api/v1/webhooks/events?before=ab%00c", "before"),
    ("/api/v1/questionnaires/suit%00ability", "path"),
])
def test_a_nul_in_a_query_or_path_is_refused_with_400(client, api_key, path, field):
    response = client.get(path, headers=api_key)

    assert response.status_code == 400
    assert response.json["error"]["field"] == field


def test_a_nul_in_a_clients_answer_is_refused_and_the_form_stays_open(client, make_invitation):
    invitation = make_invitation(client=None)
    url, data = ready_to_submit(client, invitation)
    response = client.post(url, data={**data, "comment": "fine\x00"})

    assert response.status_code == 400
    assert "comment" in response.get_data(as_text=True)
    assert count(Response) == 0
    assert client.get(url).status_code == 200


def test_a_nul_in_a_console_form_is_refused(client, login):
    login()
    page = client.get("/console/qc").get_data(as_text=True)
    response = client.post("/console/qc", data={"csrf_token": csrf_from(page), "unit": "上海\x00", "period": "2026"})

    assert response.status_code == 400
    assert "unit" in response.get_data(as_text=True)


def test_a_client_csv_with_a_nul_names_its_line(app):
    with pytest.raises(ClientImportError) as error:
        import_csv("account,name\nA1000001,张三\nA1000002,李\x00四\n", "test")

    assert [(e.row, e.message) for e in error.value.errors] == [(3, "contains a NUL character (U+0000)")]
    assert count(Client) == 0


def test_a_target_csv_with_a_nul_names_its_line(app, make_campaign):
    with pytest.raises(TargetImportError) as error:
        import_targets_csv(make_campaign(), "account\nA1\x00\n", "test")

    assert [(e.row, e.message) for e in error.value.errors] == [(2, "contains a NUL character (U+0000)")]


@pytest.mark.parametrize("number", [HUGE, PAST_INT32])
@pytest.mark.parametrize("path", ["/api/v1/campaigns/{n}", "/api/v1/questionnaires/suitability/versions/{n}"])
def test_an_api_id_past_the_columns_range_is_404(client, api_key, path, number):
    response = client.get(path.format(n=number), headers=api_key)

    assert response.status_code == 404
    assert response.json["error"]["status"] == 404


@pytest.mark.parametrize("path", ["/console/campaigns/{n}", "/console/responses/{n}", "/console/exceptions/{n}",
                                  "/console/invitations/{n}", "/console/letters/batches/{n}"])
def test_a_console_id_past_the_columns_range_is_404(client, login, path):
    login()

    assert client.get(path.format(n=HUGE)).status_code == 404


@pytest.mark.parametrize("path", [f"/console/audit/?before={HUGE}", f"/console/exceptions?page={HUGE}",
                                  f"/console/letters/archive?page={HUGE}", f"/console/invitations?page={HUGE}",
                                  "/console/invitations?page=-3", f"/console/clients?page={HUGE}"])
def test_a_huge_cursor_or_page_number_shows_the_first_page(client, login, path):
    login()

    assert client.get(path).status_code == 200


@pytest.mark.parametrize("query, field", [
    (f"from=1&to={HUGE}", "from"),
    ("from=0&to=1", "from"),
])
def test_a_diff_between_impossible_versions_is_422(client, api_key, publish, query, field):
    publish("suitability")
    response = client.get(f"/api/v1/questionnaires/suitability/diff?{query}", headers=api_key)

    assert response.status_code == 422
    assert response.json["error"]["field"] == field


@pytest.mark.parametrize("query", [f"from={HUGE}", f"to={HUGE}", "from=-1"])
def test_a_console_diff_of_an_impossible_version_shows_the_last_two(client, login, publish, query):
    login()
    publish("all_types")
    publish_text(ALL_TYPES_V2, "test")
    db.session.commit()

    response = client.get(f"/console/questionnaires/all-types/diff?{query}")

    assert response.status_code == 200
    assert "请问您的账户是否由您本人操作？" in response.get_data(as_text=True)


def test_a_statistics_filter_with_a_huge_campaign_number_names_the_field(client, login):
    login()
    response = client.get(f"/console/stats/export.csv?campaign={HUGE}")

    assert response.status_code == 422
    assert "campaign" in response.get_data(as_text=True)


@pytest.mark.parametrize("limit", ["0", "201", "null", "-1", HUGE])
def test_an_events_limit_outside_1_to_200_is_422(client, api_key, limit):
    response = client.get(f"/api/v1/webhooks/events?limit={limit}", headers=api_key)

    assert response.status_code == 422
    assert response.json["error"]["field"] == "limit"


def test_a_qc_finding_with_an_exception_number_that_is_no_number_is_refused(client, login):
    login()
    page = client.get("/console/qc").get_data(as_text=True)
    scores = {key: "90" for key in APPENDIX_B_WEIGHTS}
    response = client.post("/console/qc", data={"csrf_token": csrf_from(page), "unit": "上海分公司", "period": "2026",
                                                "exception_id": "seven", **scores})

    assert response.status_code == 422
    assert 'data-field="exception_id"' in response.get_data(as_text=True)


@pytest.mark.parametrize("path, method", [("/api/v1/questionnaires", "PUT"), ("/login", "DELETE")])
def test_a_method_the_path_does_not_take_gets_405_with_allow(client, path, method):
    response = client.open(path, method=method)

    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("answer, status", [
    ("１２３ｘ", 303),  # full-width, as a Chinese keyboard types it: the same answer
    ("123X", 303),
    ("一二三四", 422),  # other scripts are a wrong answer, not a crash of compare_digest
    ("12😀", 422),
])
def test_an_identity_answer_in_any_script_is_judged_not_crashed(client, make_invitation, answer, status):
    invitation = make_invitation()

    assert pass_identity(client, invitation, answer).status_code == status


@pytest.mark.parametrize("answer, status", [
    ("１９５８－０５－３１", 303),
    ("１９５８０５３１", 303),
    ("一九五八年", 422),
])
def test_a_birth_date_answer_typed_full_width_is_the_same_date(client, make_invitation, publish, answer, status):
    invitation = make_invitation(version=publish("complaint_closure"),
                                 context={"complaint_date": "2026-10-08", "complaint_subject": "开户手续"})

    assert pass_identity(client, invitation, answer).status_code == status
