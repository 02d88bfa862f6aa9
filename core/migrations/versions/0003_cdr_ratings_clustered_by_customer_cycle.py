"""cdr ratings clustered by customer-cycle

Rated amounts move from `cdr` rows into `cdr_rating`, keyed (customer, cycle, cdr):
writing them onto `cdr` rewrote pages all over the table, because one customer's
CDRs are interleaved with everyone's. Ratings are derived data: the next totals
calculation of a cycle writes them again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 20:42:44.781055
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cdr_rating',
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('cycle_start_date', sa.Date(), nullable=False),
    sa.Column('cdr_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subscription_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('call_type', sa.String(length=8), nullable=False),
    sa.Column('rated_amount', core.models.base.Money(precision=18, scale=4), nullable=False),
    sa.Column('bundle_used', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cdr_id'], ['cdr.id'], name=op.f('fk_cdr_rating_cdr_id_cdr')),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_cdr_rating_customer_id_customer')),
    sa.PrimaryKeyConstraint('customer_id', 'cycle_start_date', 'cdr_id', name=op.f('pk_cdr_rating')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('cdr', schema=None) as batch_op:
        batch_op.drop_column('bundle_used')
        batch_op.drop_column('rated_amount')



def downgrade() -> None:
    with op.batch_alter_table('cdr', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rated_amount', core.models.base.Money(precision=18, scale=4), nullable=True))
        batch_op.add_column(sa.Column('bundle_used', sa.Integer(), nullable=False, server_default='0'))

    op.drop_table('cdr_rating')
