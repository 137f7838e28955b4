"""staff TOTP secrets kept sealed under SECRET_KEYS, not as they are

Revision ID: c5a8f3d1e207
Revises: 9e4b6a1c2d57
Create Date: 2026-11-26 01:00:00

"""
import base64

from alembic import op
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

# revision identifiers, used by Alembic.
revision = 'c5a8f3d1e207'
down_revision = '9e4b6a1c2d57'
branch_labels = None
depends_on = None

staff = sa.table('staff_users', sa.column('id', sa.Integer), sa.column('totp_secret', sa.String),
                 sa.column('totp_secret_sealed', sa.String), sa.column('totp_enabled_at', sa.DateTime),
                 sa.column('totp_last_step', sa.BigInteger))


def _sealer():
    # A frozen copy of app.auth.two_factor's key derivation as it stands at this revision: a migration
    # must do what it did when it was written, whatever the app's code becomes later.
    def key(secret_key):
        derived = HKDF(algorithm=SHA256(), length=32, salt=None,
                       info=b"huifang staff TOTP secrets").derive(secret_key.encode())
        return Fernet(base64.urlsafe_b64encode(derived))

    return MultiFernet([key(k) for k in reversed(current_app.config["SECRET_KEYS"])])


def upgrade():
    op.add_column('staff_users', sa.Column('totp_secret_sealed', sa.String(length=255), nullable=True))
    bind, sealer = op.get_bind(), _sealer()
    for row in bind.execute(sa.select(staff.c.id, staff.c.totp_secret).where(staff.c.totp_secret.is_not(None))):
        bind.execute(staff.update().where(staff.c.id == row.id)
                     .values(totp_secret_sealed=sealer.encrypt(row.totp_secret.encode()).decode()))
    op.drop_column('staff_users', 'totp_secret')


def downgrade():
    op.add_column('staff_users', sa.Column('totp_secret', sa.String(length=32), nullable=True))
    bind, sealer = op.get_bind(), _sealer()
    rows = bind.execute(sa.select(staff.c.id, staff.c.totp_secret_sealed)
                        .where(staff.c.totp_secret_sealed.is_not(None))).all()
    for row in rows:
        try:
            values = {"totp_secret": sealer.decrypt(row.totp_secret_sealed.encode()).decode()}
        except InvalidToken:  # no key opens it: its holder sets up an app again, as after a reset
            values = {"totp_enabled_at": None, "totp_last_step": None}
        bind.execute(staff.update().where(staff.c.id == row.id).values(**values))
    op.drop_column('staff_users', 'totp_secret_sealed')
