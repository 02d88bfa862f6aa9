"""cdr ratings clustered by customer-cycle

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 20:42:44.781055

Rated amounts move from `cdr` rows into `cdr_rating`, keyed (customer, cycle, cdr):
writing them onto `cdr` rewrote pages all over the table, because one customer's
CDRs are interleaved with everyone's. Ratings are derived data: the next totals
calculation of a cycle writes them again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import add_columns, drop_columns, foreign_key, id_column, money

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'cdr_rating',
        id_column('customer_id'),
        sa.Column('cycle_start_date', sa.Date(), nullable=False),
        id_column('cdr_id'),
        id_column('subscription_id'),
        sa.Column('call_type', sa.String(length=8), nullable=False),
        sa.Column('rated_amount', money(), nullable=False),
        sa.Column('bundle_used', sa.Integer(), nullable=False),
        foreign_key('cdr_rating', 'cdr_id', 'cdr'),
        foreign_key('cdr_rating', 'customer_id', 'customer'),
        sa.PrimaryKeyConstraint('customer_id', 'cycle_start_date', 'cdr_id', name=op.f('pk_cdr_rating')),
        sqlite_with_rowid=False,
    )
    drop_columns('cdr', 'bundle_used', 'rated_amount')


def downgrade() -> None:
    add_columns('cdr', sa.Column('rated_amount', money(), nullable=True),
                sa.Column('bundle_used', sa.Integer(), nullable=False, server_default='0'))
    op.drop_table('cdr_rating')
