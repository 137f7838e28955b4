"""Indexes the status page reads by: audit entries by action in order, jobs by status and when they finished

Revision ID: e3f1a6b2c804
Revises: d7e2b4c9f018
Create Date: 2026-11-26 11:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e3f1a6b2c804'
down_revision = 'd7e2b4c9f018'
branch_labels = None
depends_on = None


def upgrade():
    # (action, seq) answers "the newest entries of this action" from the index alone; the old index on
    # action is its prefix, so it goes.
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_action_seq', ['action', 'seq'], unique=False)
        batch_op.drop_index('ix_audit_log_action')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_status_finished_at', ['status', 'finished_at'], unique=False)


def downgrade():
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_status_finished_at')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_action', ['action'], unique=False)
        batch_op.drop_index('ix_audit_log_action_seq')
