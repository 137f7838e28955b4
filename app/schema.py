"""Building the schema outside Alembic (tests) and the database-side guards shared with migrations."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db

# The audit log is append-only: the database itself refuses UPDATE and DELETE on it (7.5.1).
AUDIT_GUARDS = {
    "sqlite": [
        """CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
           BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
        """CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
           BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    ],
    "postgresql": [
        """CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
           BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql""",
        "DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log",
        """CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
           FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    ],
}


def install_audit_guards(connection: sa.Connection) -> None:
    """Create the triggers that make audit_log append-only on this connection's database."""
    for statement in AUDIT_GUARDS.get(connection.dialect.name, []):
        connection.execute(sa.text(statement))


def import_all_models() -> None:
    """Import every area's models so the metadata knows all tables."""
    import app.api.models  # noqa: F401
    import app.audit.models  # noqa: F401
    import app.auth.models  # noqa: F401
    import app.clients.models  # noqa: F401
    import app.definitions.models  # noqa: F401
    import app.reviews.models  # noqa: F401
    import app.jobs.models  # noqa: F401
    import app.mandatory.models  # noqa: F401
    import app.webhooks.models  # noqa: F401
    import app.campaigns.models  # noqa: F401
    import app.letters.models  # noqa: F401
    import app.followup.models  # noqa: F401
    import app.stats.models  # noqa: F401


def create_schema() -> None:
    """Create all tables and guards directly from the models (tests; migrations do this in production)."""
    import_all_models()
    db.create_all()
    with db.engine.begin() as conn:
        install_audit_guards(conn)
