"""Upserting clients, from the API or a CSV file: all rows valid, or none written."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Mapping, Optional

import sqlalchemy as sa

from app.audit.service import record
from app.clients.models import Client, RiskLevel
from app.extensions import db
from app.inputs import first_nul_line
from app.phrases import phrase

FIELDS = ("account", "name", "phone", "email", "postal_address", "id_last4", "birth_date",
          "risk_level", "servicing_staff_code", "servicing_staff_name", "branch")
ACCOUNT_RE = re.compile(r"^[A-Za-z0-9_-]{4,32}$")
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")  # mainland mobile numbers
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
ID_LAST4_RE = re.compile(r"^\d{3}[\dXx]$")  # the last char of a resident ID may be X
MAX_LENGTHS = {"name": 100, "postal_address": 300, "servicing_staff_code": 32,
               "servicing_staff_name": 100, "branch": 100, "email": 254}


@dataclass(frozen=True)
class RowError:
    """One problem in one input row: where (index or CSV line), which field, why."""

    row: int
    field: str
    message: str

    def as_dict(self) -> dict:
        """JSON shape for the API."""
        return {"row": self.row, "field": self.field, "message": self.message}


class ClientImportError(ValueError):
    """Some rows are invalid; nothing was written."""

    def __init__(self, errors: list[RowError]):
        super().__init__("; ".join(f"row {e.row}: {e.field}: {e.message}" for e in errors))
        self.errors = errors


def _clean_row(raw: Mapping[str, object], row: int) -> tuple[dict, list[RowError]]:
    """Normalize one row; empty strings mean 'not given'."""
    errors: list[RowError] = []
    unknown = set(raw) - set(FIELDS)
    for name in sorted(unknown):
        errors.append(RowError(row, name, phrase("unknown field")))
    clean: dict = {}
    for name in FIELDS:
        value = raw.get(name)
        if isinstance(value, str):
            value = value.strip()
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            errors.append(RowError(row, name, phrase("must be a string")))
            continue
        if name in MAX_LENGTHS and len(value) > MAX_LENGTHS[name]:
            errors.append(RowError(row, name, phrase("longer than %(most)d characters", most=MAX_LENGTHS[name])))
            continue
        clean[name] = value
    for required in ("account", "name"):
        if required not in clean and not any(e.field == required for e in errors):
            errors.append(RowError(row, required, phrase("is required")))
    checks = (
        ("account", ACCOUNT_RE, phrase("must be 4–32 letters, digits, '-' or '_'")),
        ("phone", MOBILE_RE, phrase("is not a mainland mobile number (11 digits starting with 1)")),
        ("email", EMAIL_RE, phrase("is not an email address")),
        ("id_last4", ID_LAST4_RE, phrase("must be the last 4 characters of the ID number (digits, last may be X)")),
    )
    for name, pattern, message in checks:
        if name in clean and not pattern.match(clean[name]):
            errors.append(RowError(row, name, message))
    if "id_last4" in clean:
        clean["id_last4"] = clean["id_last4"].upper()
    if "birth_date" in clean:
        try:
            clean["birth_date"] = date.fromisoformat(clean["birth_date"])
        except ValueError:
            errors.append(RowError(row, "birth_date", phrase("must be a date as YYYY-MM-DD")))
    if "risk_level" in clean:
        try:
            clean["risk_level"] = RiskLevel(clean["risk_level"].upper())
        except ValueError:
            errors.append(RowError(row, "risk_level", phrase("must be one of C1, C2, C3, C4, C5")))
    return clean, errors


def upsert_clients(rows: Iterable[Mapping[str, object]], actor: str, first_row: int = 0) -> dict:
    """Create or update clients by account number; any invalid row means nothing is written."""
    cleaned, errors, seen = [], [], {}
    for index, raw in enumerate(rows, start=first_row):
        if not isinstance(raw, Mapping):
            errors.append(RowError(index, "", phrase("each row must be an object")))
            continue
        clean, row_errors = _clean_row(raw, index)
        errors.extend(row_errors)
        if "account" in clean:
            if clean["account"] in seen:
                errors.append(RowError(index, "account", phrase("duplicate of row %(row)d", row=seen[clean["account"]])))
            seen.setdefault(clean["account"], index)
        cleaned.append(clean)
    if errors:
        raise ClientImportError(errors)
    existing = {
        c.account: c
        for c in db.session.scalars(sa.select(Client).where(Client.account.in_(list(seen))))
    } if seen else {}
    created = updated = 0
    for clean in cleaned:
        client = existing.get(clean["account"])
        if client is None:
            db.session.add(Client(**clean))
            created += 1
        else:
            for name, value in clean.items():
                setattr(client, name, value)
            updated += 1
    db.session.flush()
    record(actor, "clients.upsert", "client", None,
           {"created": created, "updated": updated, "accounts": len(cleaned)})
    return {"created": created, "updated": updated}


def import_csv(text: str, actor: str) -> dict:
    """Import a UTF-8 CSV with a header row of FIELDS; errors name the file's line numbers."""
    if (line := first_nul_line(text)) is not None:
        raise ClientImportError([RowError(line, "", phrase("contains a NUL character (U+0000)"))])
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames or "account" not in reader.fieldnames:
        raise ClientImportError([RowError(1, "header", phrase("the first line must name the columns, including 'account'"))])
    rows = [{k: v for k, v in row.items() if k is not None} for row in reader]
    # Line 1 is the header, so the first data row is line 2.
    return upsert_clients(rows, actor, first_row=2)


def get_client_by_account(account: str) -> Optional[Client]:
    """The client with this account number, or None."""
    return db.session.scalars(sa.select(Client).where(Client.account == account)).one_or_none()


def mask_phone(phone: Optional[str]) -> str:
    """138****1234: enough to recognize, not enough to call (7.3.5)."""
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def mask_name(name: Optional[str]) -> str:
    """张*明 / J*** Smith-style masking of a name in lists."""
    if not name:
        return ""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_email(email: Optional[str]) -> str:
    """a***@example.com."""
    if not email or "@" not in email:
        return ""
    local, domain = email.split("@", 1)
    return (local[:1] + "***@" + domain)
