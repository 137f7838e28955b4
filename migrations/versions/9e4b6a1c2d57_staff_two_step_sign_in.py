"""staff two-step sign-in: TOTP secret, when it was set up, the last time step accepted

Revision ID: 9e4b6a1c2d57
Revises: 7c1d2e9a4b30
Create Date: 2026-11-25 22:00:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '9e4b6a1c2d57'
down_revision = '7c1d2e9a4b30'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (nullable, no default): existing accounts have no authenticator yet and are
    # asked to set one up at their next sign-in when STAFF_TWO_FACTOR_REQUIRED is on.
    op.add_column('staff_users', sa.Column('totp_secret', sa.String(length=32), nullable=True))
    op.add_column('staff_users', sa.Column('totp_enabled_at', sa.DateTime(), nullable=True))
    op.add_column('staff_users', sa.Column('totp_last_step', sa.BigInteger(), nullable=True))


def downgrade():
    for column in ('totp_last_step', 'totp_enabled_at', 'totp_secret'):
        op.drop_column('staff_users', column)
