"""The flask commands: publishing, built-ins, API keys, staff, client import, audit verification."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.api.models import ApiKey
from app.auth.models import StaffUser
from app.clients.models import Client
from app.definitions.models import Questionnaire, QuestionnaireVersion
from app.extensions import db

DATA = Path(__file__).parent / "data"


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def test_publish_command_prints_key_version_and_hash(runner):
    result = runner.invoke(args=["questionnaires", "publish", str(DATA / "all_types.yaml")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("published: all-types v1 sha256:")


def test_publish_command_reports_path_and_line_of_an_error(runner, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((DATA / "all_types.yaml").read_text(encoding="utf-8").replace("type: rating", "type: stars"),
                   encoding="utf-8")
    result = runner.invoke(args=["questionnaires", "publish", str(bad)])
    assert result.exit_code == 1
    assert "unknown question type 'stars'" in result.output and "(line " in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QuestionnaireVersion)) == 0


def test_load_builtin_publishes_one_questionnaire_per_type(runner):
    result = runner.invoke(args=["questionnaires", "load-builtin"])
    assert result.exit_code == 0, result.output
    types = db.session.scalars(sa.select(Questionnaire.review_type)).all()
    assert len(types) == len(set(types)) == 9


def test_load_builtin_twice_publishes_nothing_new(runner):
    runner.invoke(args=["questionnaires", "load-builtin"])
    result = runner.invoke(args=["questionnaires", "load-builtin"])
    assert "published:" not in result.output and result.output.count("unchanged:") == 9


def test_retire_command_retires_a_version(runner):
    runner.invoke(args=["questionnaires", "publish", str(DATA / "all_types.yaml")])
    result = runner.invoke(args=["questionnaires", "retire", "all-types", "1"])
    assert result.exit_code == 0
    assert db.session.scalars(sa.select(QuestionnaireVersion)).one().is_retired


def test_api_key_create_prints_json_with_the_key_once(runner):
    result = runner.invoke(args=["api-keys", "create", "crm", "--callback-prefix", "https://crm.example.com/hooks/"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output.strip().splitlines()[-1])
    assert body["api_key"].startswith("hf_")
    assert body["callback_prefixes"] == ["https://crm.example.com/hooks/"]


@pytest.mark.parametrize(("option", "value", "reason"), [
    # A prefix must end its host: this one would also admit https://crm.example.com.evil.example/.
    ("--callback-prefix", "https://crm.example.com", "must end its host with '/' or ':'"),
    ("--callback-prefix", "ftp://crm.example.com/", "not an http(s) URL"),
    ("--callback-prefix", "https://user:pw@crm.example.com/", "not an http(s) URL"),
    ("--callback-prefix", "/hooks/", "not an http(s) URL"),
    # frame-ancestors is a space-separated list: this would add a directive to the gate page's CSP.
    ("--frame-origin", "https://crm.example.com; script-src *", "not an http(s) URL"),
    ("--frame-origin", "https://crm.example.com/gate", "is an origin"),
    ("--frame-origin", "https://crm.example.com:99999", "not an http(s) URL"),
])
def test_api_key_create_refuses_a_prefix_or_origin_that_is_not_one(runner, option, value, reason):
    result = runner.invoke(args=["api-keys", "create", "crm", option, value])
    field = {"--callback-prefix": "callback_prefixes", "--frame-origin": "frame_origins"}[option]
    assert result.exit_code == 1 and f"not created: {field}: '{value}'" in result.output and reason in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 0


def test_api_key_create_refuses_a_name_that_is_taken(runner):
    assert runner.invoke(args=["api-keys", "create", "crm"]).exit_code == 0
    result = runner.invoke(args=["api-keys", "create", " crm "])
    assert result.exit_code == 1 and "name: an API key named 'crm' exists already" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 1


def test_api_key_frame_origins_are_stored_without_a_trailing_slash(runner):
    result = runner.invoke(args=["api-keys", "create", "crm", "--frame-origin", "https://crm.example.com/"])
    assert json.loads(result.output)["frame_origins"] == ["https://crm.example.com"]


@pytest.mark.parametrize(("arguments", "reason"), [
    (["wang wu", "--name", "王五"], "username: give 1 to 64 letters"),
    (["", "--name", "王五"], "username: give 1 to 64 letters"),
    (["wang.wu", "--name", "   "], "display_name: give 1 to 100 characters"),
    (["wang.wu", "--name", "王五", "--staff-code", "S 1"], "staff_code: give 1 to 32 letters"),
    (["taken", "--name", "王五"], "username: 'taken' is taken"),
    (["wang.wu", "--name", "王五", "--staff-code", "S001"], "staff_code: 'S001' belongs to another account"),
])
def test_users_create_refuses_a_bad_or_taken_name_and_creates_nothing(runner, make_staff, arguments, reason):
    make_staff(username="taken", staff_code="S001")
    result = runner.invoke(args=["users", "create", *arguments, "--role", "review_executor"])
    assert result.exit_code == 1 and reason in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffUser)) == 1


def test_users_create_keeps_the_names_without_surrounding_spaces(runner):
    result = runner.invoke(args=["users", "create", " wang.wu ", "--name", " 王五 ", "--role", "auditor"])
    assert result.exit_code == 0 and result.output.startswith("created wang.wu (auditor); one-time password: ")
    user = db.session.scalars(sa.select(StaffUser)).one()
    assert (user.username, user.display_name) == ("wang.wu", "王五")


@pytest.mark.parametrize("option", [["--batch", "0"], ["--batch", "2147483648"], ["--poll-interval", "nan"],
                                    ["--poll-interval", "-1"], ["--poll-interval", "inf"]])
def test_worker_refuses_an_odd_option_before_it_starts(runner, option):
    result = runner.invoke(args=["worker", *option])
    assert result.exit_code == 2 and f"Invalid value for '{option[0]}'" in result.output
    assert "worker started" not in result.output


def test_a_file_that_is_not_utf8_text_is_refused_with_its_name(runner, tmp_path):
    csv_file = tmp_path / "clients-gbk.csv"
    csv_file.write_bytes("account,name\nA0000001,张三\n".encode("gbk"))
    result = runner.invoke(args=["clients", "import", str(csv_file)])
    assert result.exit_code == 2 and "clients-gbk.csv is not UTF-8 text" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Client)) == 0


def test_ensure_admin_creates_one_admin_and_prints_the_password_once(runner):
    first = runner.invoke(args=["users", "ensure-admin"])
    second = runner.invoke(args=["users", "ensure-admin"])
    assert "password:" in first.output and "password" not in second.output
    user = db.session.scalars(sa.select(StaffUser)).one()
    password = first.output.split("password:")[1].split()[0]
    assert password not in user.password_hash and user.password_hash.startswith("$argon2id$")


def test_client_csv_import_names_bad_lines_and_imports_nothing(runner, tmp_path):
    csv_file = tmp_path / "clients.csv"
    csv_file.write_text("account,name,phone\nA0000001,张三,13800001111\nA0000002,李四,999\n", encoding="utf-8")
    result = runner.invoke(args=["clients", "import", str(csv_file)])
    assert result.exit_code == 1
    assert "line 3: phone" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Client)) == 0


def test_client_csv_import_accepts_a_bom_and_imports_all_rows(runner, tmp_path):
    csv_file = tmp_path / "clients.csv"
    csv_file.write_text("\ufeffaccount,name,risk_level\nA0000001,张三,c2\nA0000002,李四,C5\n", encoding="utf-8")
    result = runner.invoke(args=["clients", "import", str(csv_file)])
    assert result.exit_code == 0 and "created 2" in result.output


def test_audit_verify_passes_on_an_untouched_chain(runner):
    runner.invoke(args=["questionnaires", "publish", str(DATA / "all_types.yaml")])
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "intact" in result.output
