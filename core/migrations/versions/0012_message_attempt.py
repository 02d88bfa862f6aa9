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

from core.migrations.helpers import create_table_with_id, foreign_key, id_column, utc_column

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_table_with_id(
        'message_attempt',
        id_column('message_id'),
        sa.Column('attempt', sa.Integer(), nullable=False),
        utc_column('at'),
        sa.Column('outcome', sa.String(length=12), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        foreign_key('message_attempt', 'message_id', 'message'),
    )
    op.create_index('ix_message_attempt_message', 'message_attempt', ['message_id'])


def downgrade() -> None:
    op.drop_index('ix_message_attempt_message', table_name='message_attempt')
    op.drop_table('message_attempt')
