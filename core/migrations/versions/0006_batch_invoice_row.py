"""batch invoice row

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 22:40:00

The CSV row a batch invoice was issued from, so its PDF can be rendered again
when the file is lost (regular invoices re-render from their stored lines).
"""

from __future__ import annotations

import sqlalchemy as sa

from core.migrations.helpers import add_columns, drop_columns

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_columns('batch_invoice', sa.Column('row_json', sa.Text(), nullable=True))


def downgrade() -> None:
    drop_columns('batch_invoice', 'row_json')
