"""import batch progress time

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 21:08:27.041134
"""

from __future__ import annotations

from core.migrations.helpers import add_columns, drop_columns, utc_column

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_columns('import_batch', utc_column('updated_at', nullable=True))


def downgrade() -> None:
    drop_columns('import_batch', 'updated_at')
