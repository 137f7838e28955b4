"""API keys' webhook secrets kept sealed under SECRET_KEYS, not as they are

Revision ID: d7e2b4c9f018
Revises: c5a8f3d1e207
Create Date: 2026-11-26 02:00:00

"""
import base64

from alembic import op
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

# revision identifiers, used by Alembic.
revision = 'd7e2b4c9f018'
down_revision = 'c5a8f3d1e207'
branch_labels = None
depends_on = None

COLUMNS = (('webhook_secret', 'webhook_secret_sealed'), ('webhook_secret_previous', 'webhook_secret_previous_sealed'))
keys = sa.table('api_keys', sa.column('id', sa.Integer),
                *(sa.column(name, sa.String) for pair in COLUMNS for name in pair))


def _sealer():
    # A frozen copy of app.sealing's key derivation for webhook secrets as it stands at this
    # revision: a migration must do what it did when it was written, whatever the app's code becomes.
    def key(secret_key):
        derived = HKDF(algorithm=SHA256(), length=32, salt=None,
                       info=b"huifang webhook secrets").derive(secret_key.encode())
        return Fernet(base64.urlsafe_b64encode(derived))

    return MultiFernet([key(k) for k in reversed(current_app.config["SECRET_KEYS"])])


def _move(source_target, change):
    bind = op.get_bind()
    for source, target in source_target:
        for row in bind.execute(sa.select(keys.c.id, keys.c[source]).where(keys.c[source].is_not(None))).all():
            bind.execute(keys.update().where(keys.c.id == row.id).values({target: change(row[1])}))


def upgrade():
    for _clear, sealed in COLUMNS:
        op.add_column('api_keys', sa.Column(sealed, sa.String(length=255), nullable=True))
    sealer = _sealer()
    _move(COLUMNS, lambda secret: sealer.encrypt(secret.encode()).decode())
    for clear, _sealed in COLUMNS:
        op.drop_column('api_keys', clear)


def downgrade():
    for clear, _sealed in COLUMNS:
        op.add_column('api_keys', sa.Column(clear, sa.String(length=100), nullable=True))
    sealer = _sealer()

    def opened(sealed):
        try:
            return sealer.decrypt(sealed.encode()).decode()
        except InvalidToken:  # no key opens it: the key has no secret, as before its first rotation
            return None

    _move([(sealed, clear) for clear, sealed in COLUMNS], opened)
    for _clear, sealed in COLUMNS:
        op.drop_column('api_keys', sealed)
