"""What the `flask` commands take on their command lines, checked before a command runs.

A number past the id columns' range, a file that is not UTF-8 text or a NaN reached the database or a
decoder before and ended in a traceback; click refuses them here with its usage message (exit 2),
naming the parameter, as it refuses a missing argument. tests/test_cli_inputs.py runs every command
with odd values.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import click

from app.extensions import db
from app.params import MAX_ROW_ID

# A row id or a version number: the id columns are 32-bit on PostgreSQL (app/params.py).
ROW_ID = click.IntRange(1, MAX_ROW_ID)
# How many rows a command lists or claims at a time.
COUNT = click.IntRange(1, 10_000)
# Processes to render letters in: more than this many on one machine only thrashes.
PROCESSES = click.IntRange(1, 64)
# A calendar year the firm's records can name.
YEAR = click.IntRange(2000, 2100)
DAY = click.DateTime(formats=["%Y-%m-%d"])


@dataclass(frozen=True)
class TextFile:
    """A file read as text: where it came from (for messages) and what it says."""

    path: Path
    text: str


class TextFileParam(click.ParamType):
    """An existing file holding UTF-8 text (a BOM from a spreadsheet program is dropped).

    click.File would open it, but a decoding error would surface in the command as a traceback.
    """

    name = "file"

    def convert(self, value, param, ctx) -> TextFile:
        if isinstance(value, TextFile):
            return value
        path = Path(click.Path(exists=True, dir_okay=False, readable=True).convert(value, param, ctx))
        try:
            return TextFile(path, path.read_bytes().decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            self.fail(f"{click.format_filename(path)} is not UTF-8 text (byte {exc.start} cannot be read); "
                      f"save it as UTF-8 and try again", param, ctx)
        except OSError as exc:
            self.fail(f"{click.format_filename(path)} cannot be read: {exc.strerror}", param, ctx)


TEXT_FILE = TextFileParam()


def finite(_ctx, param, value):
    """A click callback refusing NaN and infinity, which click.FloatRange lets through."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number", param=param)
    return value


def fail(message: object) -> NoReturn:
    """Roll back what the command did, print the reason on stderr and exit 1."""
    db.session.rollback()
    click.echo(str(message), err=True)
    sys.exit(1)
