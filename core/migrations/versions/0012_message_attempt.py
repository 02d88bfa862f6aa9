"""message attempt

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 21:40:00

Every failed attempt of a bus message with its time and full error, so a failure
shows its attempts (the message row keeps only the last error, and a sync that
gives up completes its message `done` to go on with totals).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'message_attempt',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('at', core.models.base.UtcDateTime(), nullable=False),
        sa.Column('outcome', sa.String(length=12), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_message_attempt_message_id_message')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_message_attempt')),
    )
    op.create_index('ix_message_attempt_message', 'message_attempt', ['message_id'])


def downgrade() -> None:
    op.drop_index('ix_message_attempt_message', table_name='message_attempt')
    op.drop_table('message_attempt')
