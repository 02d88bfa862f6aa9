"""CDRs by call date

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 00:30:00

The dashboard counts CDRs per local call day over every customer (it counted per import
day, so a fresh install showed every CDR as "today"). The (customer_id, call_date) index
cannot serve a date range across customers; this one reads just the last 14 days.
"""

from __future__ import annotations

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cdr', schema=None) as batch_op:
        batch_op.create_index('ix_cdr_call_date', ['call_date'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cdr', schema=None) as batch_op:
        batch_op.drop_index('ix_cdr_call_date')
