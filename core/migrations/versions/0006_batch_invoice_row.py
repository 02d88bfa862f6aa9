"""batch invoice row

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 22:40:00

The CSV row a batch invoice was issued from, so its PDF can be rendered again
when the file is lost (regular invoices re-render from their stored lines).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('batch_invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('row_json', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('batch_invoice', schema=None) as batch_op:
        batch_op.drop_column('row_json')
