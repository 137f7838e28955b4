"""SQL run on the audit log as a tamperer with database rights would: past the append-only guards."""
import sqlalchemy as sa

from app.extensions import db


def tamper_audit_log(sql: str, **params) -> None:
    """Run one statement with the audit log's triggers bypassed (re-enabled after on PostgreSQL)."""
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
            conn.execute(sa.text(sql), params)
            conn.execute(sa.text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change"))
        else:
            conn.execute(sa.text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            conn.execute(sa.text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
            conn.execute(sa.text(sql), params)
    db.session.expire_all()
