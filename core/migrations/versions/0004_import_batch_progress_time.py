"""import batch progress time

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 21:08:27.041134
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('import_batch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_at', core.models.base.UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('import_batch', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
