"""`flask status`: the status page's checks for monitoring; exit code 1 when something needs doing."""
from __future__ import annotations

import json

import click
from flask import Flask, current_app, get_template_attribute

from app.console.forms import firm_time
from app.i18n import UI_LOCALES


def problem_messages(status, lang: str) -> list[str]:
    """Each problem in words: the status page's own sentences (status/_problems.html), in lang."""
    # The page's macro, not a second set of sentences: one wording, translated once.
    with current_app.test_request_context(f"/?lang={lang}"):
        text = get_template_attribute("status/_problems.html", "problem_text")
        return [" ".join(str(text(problem)).split()) for problem in status.problems]


def _facts(status) -> list[str]:
    backup, worker = status.backup, status.worker
    newest = f"{backup.newest.name} taken {firm_time(backup.newest.at)}" if backup.newest else "none"
    verified = (f"{backup.verified.name} taken {firm_time(backup.verified.at)}, checked "
                f"{firm_time(backup.verified_checked_at)}") if backup.verified else "none"
    chain = status.chain
    walk = (f"recomputed {firm_time(chain.at)}, " + (f"broken at {chain.broken}" if chain.broken else
                                                     f"{chain.entries} entries, intact")) if chain.at else "never recomputed"
    return [f"backup: newest {newest}; newest proved by a check: {verified}",
            f"audit chain: {walk}",
            f"worker: last job finished {firm_time(worker.last_finished_at) or 'never'}; "
            f"{worker.waiting} due and waiting; {worker.dead} given up in the last {worker.dead_days} days"]


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for monitoring).")
@click.option("--lang", type=click.Choice(list(UI_LOCALES)), default="en", show_default=True,
              help="The language of the problems' sentences.")
def status_command(as_json: bool, lang: str) -> None:
    """The audit chain, backups proved by a check and the background worker; exit 1 when something needs doing."""
    from app.status.service import system_status

    status = system_status()
    messages = problem_messages(status, lang)
    if as_json:
        click.echo(json.dumps({"ok": status.ok, "problems": [
            {"code": problem.code, "message": message} for problem, message in zip(status.problems, messages)]},
            ensure_ascii=False))
    else:
        for line in _facts(status):
            click.echo(line)
        for message in messages:
            click.echo(f"needs doing: {message}")
        if status.ok:
            click.echo("nothing needs doing")
    if not status.ok:
        raise SystemExit(1)


def register(app: Flask) -> None:
    """Attach this area's command to the app."""
    app.cli.add_command(status_command)
