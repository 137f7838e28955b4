"""`flask letters` commands: print a batch with a progress bar, reprint a batch or one letter."""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from app.cli_params import DAY, PROCESSES, ROW_ID, fail
from app.extensions import db

letters = AppGroup("letters", help="Paper letters: print batches, reprint.")


def _run_with_bar(batch_id: int, total: int, processes) -> None:
    from app.letters.service import run_batch

    with click.progressbar(length=total, label=f"Rendering batch {batch_id}", show_pos=True) as bar:
        batch = run_batch(batch_id, progress=bar.update, processes=processes)
    db.session.commit()
    click.echo(f"Batch {batch.id}: {batch.printed} letter(s), {batch.pages} page(s), {len(batch.files)} file(s) "
               f"in {batch.output_dir}")
    for skipped in batch.skipped:
        click.echo(f"  not printed: invitation {skipped['invitation_id']} ({skipped['client_account']}): "
                   f"{skipped['reason']}")


@letters.command("print")
@click.argument("selection", required=False, default="")
@click.option("--campaign", "campaign_id", type=ROW_ID, help="Print the letter invitations of this campaign.")
@click.option("--questionnaire", "questionnaire_key", help="Only invitations of this questionnaire key.")
@click.option("--since", type=DAY, help="Only invitations created since this date.")
@click.option("--invitation", "invitation_ids", type=ROW_ID, multiple=True, help="These invitation ids (repeatable).")
@click.option("--queued", is_flag=True, help="Only letters queued by the letter channel and not printed yet.")
@click.option("--envelope", help="Envelope type (window position), e.g. dl or c5.")
@click.option("--chunk-size", type=int, help="Letters per PDF file for the print shop.")
@click.option("--name", help="A name for the batch.")
@click.option("--processes", type=PROCESSES, help="Worker processes (default: one per core).")
def print_command(selection, campaign_id, questionnaire_key, since, invitation_ids, queued, envelope, chunk_size,
                  name, processes):
    """Print a batch of letters now: CAMPAIGN_OR_FILTER is a campaign id, or filters such as
    "questionnaire:suitability since:2026-11-01", "invitations:1,2,3", "queued"; or use the options."""
    from app.letters.service import LetterError, Selection, create_batch, parse_selection

    try:
        chosen = parse_selection(selection) if selection else Selection()
        chosen.campaign_id = campaign_id or chosen.campaign_id
        chosen.questionnaire_key = questionnaire_key or chosen.questionnaire_key
        chosen.created_since = since.date() if since else chosen.created_since
        chosen.invitation_ids = list(invitation_ids) or chosen.invitation_ids
        chosen.queued_only = queued or chosen.queued_only
        if not (chosen.campaign_id or chosen.questionnaire_key or chosen.created_since or chosen.invitation_ids
                or chosen.queued_only):
            raise LetterError("selection", "name a campaign or at least one filter")
        batch = create_batch(chosen, "cli", name=name, envelope=envelope, chunk_size=chunk_size, enqueue_job=False)
        db.session.commit()
    except LetterError as exc:
        fail(f"{exc.field}: {exc.message}")
    _run_with_bar(batch.id, batch.total, processes)


@letters.command("reprint-batch")
@click.argument("batch_id", type=ROW_ID)
@click.option("--processes", type=PROCESSES, help="Worker processes (default: one per core).")
def reprint_batch_command(batch_id, processes):
    """Print the letters of batch BATCH_ID again (same letter ids) as a new batch."""
    from app.letters.models import LetterBatch
    from app.letters.service import reprint_batch

    old = db.session.get(LetterBatch, batch_id)
    if old is None:
        fail(f"no batch {batch_id}")
    batch = reprint_batch(old, "cli", enqueue_job=False)
    db.session.commit()
    _run_with_bar(batch.id, batch.total, processes)


@letters.command("reprint")
@click.argument("letter_id")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the PDF (default: LETTER_ID.pdf).")
def reprint_command(letter_id, out_path):
    """Print one letter again (same letter id) as a PDF file."""
    from app.letters.service import LetterError, get_letter, reprint_letter

    letter = get_letter(letter_id)
    if letter is None:
        fail(f"no letter has the id {letter_id!r}")
    try:
        pdf = reprint_letter(letter, "cli")
    except LetterError as exc:
        fail(f"{exc.field}: {exc.message}")
    db.session.commit()
    out_path = out_path or Path(f"{letter.code}.pdf")
    out_path.write_bytes(pdf)
    click.echo(f"{letter.code}: {out_path}")


def register(app: Flask) -> None:
    """Attach this area's command groups to the app."""
    app.cli.add_command(letters)
