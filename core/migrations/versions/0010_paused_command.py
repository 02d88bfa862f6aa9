"""paused command types

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 22:00:00

An operator can pause a command type (or every type, `*`): the claim reads this table,
so no worker on any host takes a paused message until it is resumed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import utc_column

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'paused_command',
        sa.Column('command_type', sa.String(length=80), nullable=False),
        sa.Column('paused_by', sa.String(length=64), nullable=False),
        utc_column('paused_at'),
        sa.PrimaryKeyConstraint('command_type', name=op.f('pk_paused_command')),
    )


def downgrade() -> None:
    op.drop_table('paused_command')
