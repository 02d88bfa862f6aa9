"""rating usage

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 00:10:00

Each CDR rating carries its CDR's usage (duration, volume, provider cost), so the totals
of a rate-plan customer-cycle are summed from `cdr_rating` alone (contiguous rows of
one customer-cycle) instead of a second pass over the interleaved `cdr` table.
Existing ratings take the usage of their CDR.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

COLUMNS = ("duration_s", "volume_kb", "provider_cost")


def upgrade() -> None:
    with op.batch_alter_table('cdr_rating') as batch:
        batch.add_column(sa.Column('duration_s', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('volume_kb', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('provider_cost', core.models.base.Money(precision=18, scale=4), nullable=False,
                                   server_default='0'))
    op.execute("UPDATE cdr_rating SET " + ", ".join(
        f"{column} = (SELECT cdr.{column} FROM cdr WHERE cdr.id = cdr_rating.cdr_id)" for column in COLUMNS))


def downgrade() -> None:
    with op.batch_alter_table('cdr_rating') as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column)
