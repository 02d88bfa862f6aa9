"""total charges (usage per price), invoice hold reasons, customer credit movements

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 21:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_MONEY = core.models.base.Money(precision=18, scale=4)


def upgrade() -> None:
    op.create_table('total_charge',
    sa.Column('id', _ID, nullable=False),
    sa.Column('customer_id', _ID, nullable=False),
    sa.Column('cycle_start_date', sa.Date(), nullable=False),
    sa.Column('subscription_id', _ID, nullable=False),
    sa.Column('call_type', sa.String(length=8), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('unit_price', _MONEY, nullable=False),
    sa.Column('setup_fee', _MONEY, nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('in_bundle', sa.Integer(), nullable=False),
    sa.Column('charged', sa.Integer(), nullable=False),
    sa.Column('setups', sa.Integer(), nullable=False),
    sa.Column('rated_amount', _MONEY, nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'],
                            name=op.f('fk_total_charge_customer_id_customer')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscription.id'],
                            name=op.f('fk_total_charge_subscription_id_subscription')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_total_charge')),
    )
    op.create_index('ix_total_charge_cycle', 'total_charge', ['customer_id', 'cycle_start_date'],
                    unique=False)


    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hold_reasons', sa.Text(), nullable=True))
    op.create_table('customer_credit',
    sa.Column('id', _ID, nullable=False),
    sa.Column('customer_id', _ID, nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('amount', _MONEY, nullable=False),
    sa.Column('invoice_id', _ID, nullable=True),
    sa.Column('operator', sa.String(length=64), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', core.models.base.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'],
                            name=op.f('fk_customer_credit_customer_id_customer')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'],
                            name=op.f('fk_customer_credit_invoice_id_invoice')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_credit')),
    )
    op.create_index(op.f('ix_customer_credit_customer_id'), 'customer_credit', ['customer_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_customer_credit_customer_id'), table_name='customer_credit')
    op.drop_table('customer_credit')
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_column('hold_reasons')
    op.drop_index('ix_total_charge_cycle', table_name='total_charge')
    op.drop_table('total_charge')
