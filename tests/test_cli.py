"""The flask commands: publishing, built-ins, API keys, staff, client import, audit verification."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

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
