"""Every `flask` command of this app, run with one argument at a time set to what no one should type.

The console's forms (tests/console/test_form_inputs.py) and the API (tests/test_api_schema.py) are
tested this way already; the commands are the staff's third door. Each command is first run with
arguments a person would type (`good_arguments`), and those must be accepted, so that each odd value
meets its own parameter's check and not a missing required one. Then every parameter gets every odd
value, and the guide's rule for bad input is checked:
- never a traceback: a refusal is a message and exit code 1 or 2 (click's usage errors);
- a refusal writes nothing: no row in any table, no audit entry.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from app import create_app
from app.extensions import db
from tests.conftest import DATA
from tests.html_forms import ODD_TEXT, rows_and_audit

# A command line cannot carry NUL (execve ends each argument there); every other odd value can be typed.
ODD_ARGUMENTS = {label: value for label, value in ODD_TEXT.items() if label != "nul"} | {
    "other script": "张三",
    "emoji": "🙂",
    "option-like": "--help",
}
# Not run here: `worker` runs until stopped (tests/test_cli.py checks that it refuses odd options
# before it starts); Flask-Migrate's `db` is the library's code (Flask's own and Flask-Limiter's
# commands are not in the app's group).
NOT_OURS = {"db"}
LONG_RUNNING = {"worker"}


@dataclass
class Seeded:
    """The rows the good arguments name."""

    campaign_id: int
    job_id: int
    batch_id: int
    letter_code: str
    letter_invitation_id: int
    message_id: str
    api_key_name: str


def our_commands() -> dict[str, click.Command]:
    """This app's commands by their full names ('campaigns holidays list'), without the libraries'."""
    group = create_app({"TESTING": True}).cli
    ctx = click.Context(group)

    def walk(command, path):
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                yield from walk(command.get_command(ctx, name), [*path, name])
        else:
            yield " ".join(path), command

    return {name: command for name, command in walk(group, [])
            if name.split()[0] not in NOT_OURS | LONG_RUNNING}


COMMANDS = our_commands()


def good_arguments(name: str, s: Seeded, files: Path) -> dict[str, list[str]]:
    """Arguments a person would type to have the command accepted, by parameter name ('' for none)."""
    holidays = files / "holidays.json"
    holidays.write_text(json.dumps({"years": {"2027": {"status": "official", "source": "国务院办公厅通知",
                                                        "closed": [["2027-01-01", "元旦"]]}}}), encoding="utf-8")
    clients_csv = files / "clients.csv"
    clients_csv.write_text("account,name,phone,branch\nB0000001,王五,13900001111,上海分公司\n", encoding="utf-8")
    table = {
        "api-keys create": {"name": ["crm"], "callback_prefixes": ["--callback-prefix", "https://crm.example.com/h/"],
                            "frame_origins": ["--frame-origin", "https://crm.example.com"]},
        "api-keys revoke": {"name": [s.api_key_name]},
        "api-keys rotate-secret": {"name": [s.api_key_name]},
        "campaigns add-targets": {"campaign_id": [str(s.campaign_id)], "branch": ["--branch", "上海分公司"],
                                  "risk_levels": ["--risk-level", "C3"], "staff_code": ["--staff-code", "S001"]},
        "campaigns create": {"name": ["Year-end"], "questionnaire": ["--questionnaire", "all-types"],
                             "version_number": ["--version", "1"], "review_type": ["--type", "suitability"],
                             "plan": ["--plan", "sms,email"], "attempts": ["--attempts", "sms=2,email=1"],
                             "rate": ["--rate", "sms=600"], "reminders": ["--reminders", "3,7"],
                             "quiet": ["--quiet", "21:00-08:00"], "tz": ["--timezone", "Asia/Shanghai"],
                             "window_start": ["--window-start", "2027-01-04T09:00:00+08:00"],
                             "window_end": ["--window-end", "2027-01-29T17:00:00+08:00"],
                             "deadline": ["--deadline", "2027-02-26T17:00:00+08:00"],
                             "context_json": ["--context", '{"product_name": "稳健理财1号"}']},
        "campaigns followups": {"campaign_id": [str(s.campaign_id)], "output": ["--output", str(files / "f.csv")]},
        "campaigns holidays list": {"year": ["2026"]},
        "campaigns holidays load": {"file": [str(holidays)]},
        "campaigns sample": {"campaign_id": [str(s.campaign_id)], "as_of": ["--as-of", "2026-12-31"],
                             "seed": ["--seed", "7"], "ratio": ["--ratio", "0.1"], "r5_ratio": ["--r5-ratio", "0.3"],
                             "stratify_by": ["--by", "branch"]},
        "clients import": {"csv_file": [str(clients_csv)]},
        "jobs retry": {"job_id": [str(s.job_id)]},
        "jobs run-once": {"limit": ["--limit", "10"]},
        "letters print": {"invitation_ids": ["--invitation", str(s.letter_invitation_id)], "questionnaire_key": ["--questionnaire", "suitability"],
                          "since": ["--since", "2026-01-01"], "envelope": ["--envelope", "dl"],
                          "chunk_size": ["--chunk-size", "50"], "name": ["--name", "Year-end"],
                          "processes": ["--processes", "1"], "selection": [], "campaign_id": []},
        "letters reprint": {"letter_id": [s.letter_code], "out_path": ["--out", str(files / "again.pdf")]},
        "letters reprint-batch": {"batch_id": [str(s.batch_id)], "processes": ["--processes", "1"]},
        "questionnaires publish": {"files": [str(DATA / "all_types.yaml")]},
        "questionnaires retire": {"key": ["all-types"], "number": ["1"]},
        "retention purge": {"before": ["--before", "2000-01-01"], "dry_run": ["--dry-run"]},
        "users create": {"username": ["wang.wu"], "display_name": ["--name", "王五"],
                         "role": ["--role", "review_executor"], "staff_code": ["--staff-code", "S009"]},
        "users activate": {"username": ["zhao.liu"]},
        "users reset-password": {"username": ["zhao.liu"]},
        "users reset-two-factor": {"username": ["qian.qi"]},
        "webhooks list": {"status": ["--status", "pending"], "limit": ["--limit", "5"]},
        "webhooks replay": {"message_id": [s.message_id]},
        "webhooks show": {"message_id": [s.message_id]},
    }
    for campaign_command in ("cancel", "pause", "resume", "run", "start", "status"):
        table[f"campaigns {campaign_command}"] = {"campaign_id": [str(s.campaign_id)]}
    table["backup create"] = {"directory": ["--to", str(files / "backups")], "keep": ["--keep", "3"]}
    table["backup list"] = {"directory": ["--in", str(files / "backups")]}
    table["status"] = {"as_json": ["--json"], "lang": ["--lang", "zh-CN"]}
    if name == "audit accept-break":
        table[name] = a_broken_chain()
    if name == "backup check":
        table[name] = {"backup_file": [a_backup(files)]}
    if name == "backup restore":
        table[name] = {"backup_file": [a_backup(files)], "replace": ["--replace"], "yes": ["--yes"]}
    return table.get(name, {})


def a_broken_chain() -> dict:
    """Break the seeded audit chain at its first entry (as a tamperer past the guards would); the
    arguments that accept that break."""
    from app.audit.service import walk_chain
    from tests.audit.tampering import tamper_audit_log

    tamper_audit_log("UPDATE audit_log SET actor = 'x' WHERE seq = 1")
    found = walk_chain().broken
    return {"seq": [str(found.seq)], "fingerprint": ["--fingerprint", found.fingerprint],
            "incident": ["--incident", "INC-1"], "note": ["--note", "looked at"]}


def a_backup(files: Path) -> str:
    """A backup of the test's database, for the commands that read one."""
    from app.backup.service import create_backup

    backup = create_backup("test", files / "backups")
    db.session.commit()
    return str(backup.path)


def argv(name: str, arguments: dict[str, list[str]]) -> list[str]:
    """The command line: the command's words, then its arguments in the command's own order."""
    words = name.split()
    for param in COMMANDS[name].params:
        words += arguments.get(param.name, [])
    return words


def odd_files(folder: Path) -> dict[str, str]:
    """Paths that name no usable file, made in the folder: what a file parameter gets instead of text."""
    (folder / "a-folder").mkdir(exist_ok=True)
    (folder / "empty.csv").write_bytes(b"")
    (folder / "junk.bin").write_bytes(b"\xff\xfe\x00\x81\x00 not text")
    (folder / "markup.csv").write_text("account,name\n<script>alert(1)</script>,x\n", encoding="utf-8")
    return {"missing": str(folder / "missing.csv"), "a folder": str(folder / "a-folder"),
            "empty": str(folder / "empty.csv"), "not text": str(folder / "junk.bin"),
            "markup": str(folder / "markup.csv")}


def with_value(param: click.Parameter, good: list[str], value: str) -> list[str]:
    """The parameter's words with its value replaced: an option keeps its flag, an argument is the value."""
    if isinstance(param, click.Option):
        return [param.opts[0], value]
    return [value, *good[1:]]


@pytest.fixture
def seeded(app, publish, make_client, make_campaign, printed_letter, letter_invitation, api_key, make_staff) -> Seeded:
    """A questionnaire, a client with year-end figures, a campaign with a target, a printed letter and
    one to print, a dead job, a callback to name and a member with an authenticator app."""
    from datetime import date

    from app.api.models import ApiKey
    from app.campaigns import service as campaigns
    from app.jobs import service as jobs
    from app.jobs.models import JobStatus
    from app.webhooks.service import emit

    publish()
    make_staff(username="qian.qi")
    client = make_client(branch="上海分公司")
    campaigns.set_client_attributes([{"account": client.account, "as_of": date(2026, 12, 31),
                                      "product_client": True, "max_product_risk": "R3"}], "test")
    campaign = make_campaign()
    campaigns.add_target_rows(campaign, [{"account": client.account}], "test", "test")
    letter, batch = printed_letter()
    unprinted = letter_invitation()
    job = jobs.enqueue("test.never-runs", {})
    job.status = JobStatus.DEAD
    key = db.session.query(ApiKey).filter_by(name="test-system").one()
    event = emit("invitation.completed", {"invitation_id": 1}, api_key_id=key.id, callback_url="http://127.0.0.1:9/h")
    db.session.commit()
    return Seeded(campaign.id, job.id, batch.id, letter.code, unprinted.id, event.message_id, key.name)


def run(runner, words: list[str]):
    """Run the command line; (exit code, output, the exception if it was not a clean exit)."""
    result = runner.invoke(args=words)
    # The command shares the test's session; a real process ends here, and what it did not commit is gone.
    db.session.rollback()
    crashed = result.exception if not isinstance(result.exception, (SystemExit, type(None))) else None
    return result.exit_code, result.output, crashed


# What a command needs done first for its good arguments to be accepted (a campaign is paused before it resumes).
# Commands whose exit code is their answer (monitoring reads it), with what the answer says.
REPORTS_BY_EXIT_CODE = {"status": '"code": "backup_never_checked"'}

FIRST = {
    "campaigns pause": [["campaigns", "start", "{campaign_id}"]],
    "campaigns resume": [["campaigns", "start", "{campaign_id}"], ["campaigns", "pause", "{campaign_id}"]],
    "campaigns run": [["campaigns", "start", "{campaign_id}"]],
    "users activate": [["users", "create", "zhao.liu", "--name", "赵六", "--role", "auditor"]],
    "users reset-password": [["users", "create", "zhao.liu", "--name", "赵六", "--role", "auditor"]],
}


def prepare(runner, name: str, s: Seeded) -> None:
    """Run what the command needs first."""
    for words in FIRST.get(name, []):
        code, output, crashed = run(runner, [w.format(campaign_id=s.campaign_id) for w in words])
        assert code == 0 and crashed is None, output


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_commands_good_arguments_are_accepted(runner, seeded, tmp_path, name):
    prepare(runner, name, seeded)
    code, output, crashed = run(runner, argv(name, good_arguments(name, seeded, tmp_path)))
    if name in REPORTS_BY_EXIT_CODE:  # exit 1 is its answer here: the seeded database was never backed up
        assert (code, crashed) == (1, None) and REPORTS_BY_EXIT_CODE[name] in output, output
    else:
        assert (code, crashed) == (0, None), output


@pytest.mark.parametrize("name", sorted(n for n in COMMANDS if any(
    not (isinstance(p, click.Option) and p.is_flag) for p in COMMANDS[n].params)))
def test_each_command_refuses_odd_arguments_with_a_message_and_changes_nothing(runner, seeded, tmp_path, name):
    prepare(runner, name, seeded)
    good = good_arguments(name, seeded, tmp_path)
    files = odd_files(tmp_path)
    problems = []
    for param in COMMANDS[name].params:
        if isinstance(param, click.Option) and param.is_flag:
            continue
        is_path = isinstance(param.type, (click.Path, click.File))
        for label, value in (files if is_path else ODD_ARGUMENTS).items():
            arguments = good | {param.name: with_value(param, good.get(param.name, []), value)}
            before = rows_and_audit()
            code, output, crashed = run(runner, argv(name, arguments))
            where = f"{param.name}={label}"
            if crashed is not None or "Traceback" in output:
                problems.append(f"{where}: {type(crashed).__name__}: {str(crashed)[:160]}")
            elif code != 0 and rows_and_audit() != before:
                problems.append(f"{where}: refused (exit {code}) but wrote rows or audit entries")
            elif code != 0 and not output.strip():
                problems.append(f"{where}: refused (exit {code}) without a word")
    if problems:
        pytest.fail("\n".join(problems))


@pytest.mark.parametrize(("words", "message"), [
    (["jobs", "retry", "999999"], "no job 999999"),
    (["webhooks", "show", "msg_none"], "no callback 'msg_none'"),
    (["webhooks", "replay", "msg_none"], "no callback 'msg_none'"),
    (["letters", "reprint-batch", "999999"], "no batch 999999"),
    (["letters", "reprint", "ZZZZ-ZZZZ"], "no letter has the id 'ZZZZ-ZZZZ'"),
    (["campaigns", "status", "999999"], "no campaign 999999"),
    (["questionnaires", "retire", "all-types", "99"], "no version 99 of 'all-types'"),
    (["api-keys", "revoke", "nobody"], "no active API key named 'nobody'"),
])
def test_a_command_naming_a_missing_row_says_which_and_changes_nothing(runner, seeded, words, message):
    before = rows_and_audit()
    code, output, crashed = run(runner, words)
    assert (code, crashed) == (1, None) and message in output and "Traceback" not in output
    assert rows_and_audit() == before
