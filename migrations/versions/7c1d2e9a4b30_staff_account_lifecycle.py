"""staff account lifecycle: session token, sign-in lockout, forced password change

Revision ID: 7c1d2e9a4b30
Revises: 40316845617e
Create Date: 2026-11-25 19:40:00

"""
import secrets

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '7c1d2e9a4b30'
down_revision = '40316845617e'
branch_labels = None
depends_on = None


def upgrade():
    # Added with server defaults so existing rows get values. Plain ADD COLUMN, not batch mode: on
    # SQLite batch mode would copy the table, losing the role's CHECK constraint and tripping the
    # foreign keys that point at staff_users.
    op.add_column('staff_users', sa.Column('session_token', sa.String(length=32), nullable=False, server_default=''))
    op.add_column('staff_users', sa.Column('failed_sign_ins', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('staff_users', sa.Column('locked_until', sa.DateTime(), nullable=True))
    op.add_column('staff_users', sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                           server_default=sa.false()))
    op.add_column('staff_users', sa.Column('password_changed_at', sa.DateTime(), nullable=True))
    staff = sa.table('staff_users', sa.column('id', sa.Integer), sa.column('session_token', sa.String))
    conn = op.get_bind()
    for (staff_id,) in conn.execute(sa.select(staff.c.id)).all():
        conn.execute(staff.update().where(staff.c.id == staff_id).values(session_token=secrets.token_hex(16)))
    if conn.dialect.name != 'sqlite':
        # The application gives every new row its own values (a random session token above all).
        # SQLite cannot drop a column default without copying the table; there it stays, unused.
        for column in ('session_token', 'failed_sign_ins', 'must_change_password'):
            op.alter_column('staff_users', column, server_default=None)


def downgrade():
    for column in ('password_changed_at', 'must_change_password', 'locked_until', 'failed_sign_ins',
                   'session_token'):
        op.drop_column('staff_users', column)
