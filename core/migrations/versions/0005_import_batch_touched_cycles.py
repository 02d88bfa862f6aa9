"""import batch touched cycles

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 22:20:00

The customer-cycles an import put CDRs into, kept on its batch as it commits, so a
sync that is retried after the provider forgot what it sent (Yielder acknowledges
downloaded files) still recalculates the cycles the first attempt filled.
"""

from __future__ import annotations

import sqlalchemy as sa

from core.migrations.helpers import add_columns, drop_columns

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_columns('import_batch', sa.Column('touched_cycles', sa.Text(), nullable=True))


def downgrade() -> None:
    drop_columns('import_batch', 'touched_cycles')
