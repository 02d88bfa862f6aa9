"""rating schemes: a/b increments, minimum charges

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-29 21:30:00

Issue 17: a voice increment scheme "a/b" on rate plans and destination tariffs
(`voice_first_s` is the block a; NULL keeps the plain "b/b" of `voice_increment_s`)
and a minimum charge per call.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = '0009'
down_revision = '0006'
branch_labels = None
depends_on = None


def _money() -> core.models.base.Money:
    return core.models.base.Money(precision=18, scale=4)


def upgrade() -> None:
    with op.batch_alter_table('rate_plan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voice_first_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('minimum_charge', _money(), nullable=False,
                                      server_default='0'))
    with op.batch_alter_table('tariff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voice_first_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('voice_increment_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('minimum_charge', _money(), nullable=False,
                                      server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('tariff', schema=None) as batch_op:
        batch_op.drop_column('minimum_charge')
        batch_op.drop_column('voice_increment_s')
        batch_op.drop_column('voice_first_s')
    with op.batch_alter_table('rate_plan', schema=None) as batch_op:
        batch_op.drop_column('minimum_charge')
        batch_op.drop_column('voice_first_s')
