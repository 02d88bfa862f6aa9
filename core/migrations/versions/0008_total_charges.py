"""total charges (usage per price), invoice hold reasons, customer credit movements

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 21:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import (add_columns, create_table_with_id, drop_columns,
                                     foreign_key, id_column, money, utc_column)

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_table_with_id(
        'total_charge',
        id_column('customer_id'),
        sa.Column('cycle_start_date', sa.Date(), nullable=False),
        id_column('subscription_id'),
        sa.Column('call_type', sa.String(length=8), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('unit_price', money(), nullable=False),
        sa.Column('setup_fee', money(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('in_bundle', sa.Integer(), nullable=False),
        sa.Column('charged', sa.Integer(), nullable=False),
        sa.Column('setups', sa.Integer(), nullable=False),
        sa.Column('rated_amount', money(), nullable=False),
        foreign_key('total_charge', 'customer_id', 'customer'),
        foreign_key('total_charge', 'subscription_id', 'subscription'),
    )
    op.create_index('ix_total_charge_cycle', 'total_charge', ['customer_id', 'cycle_start_date'],
                    unique=False)

    add_columns('invoice', sa.Column('hold_reasons', sa.Text(), nullable=True))
    create_table_with_id(
        'customer_credit',
        id_column('customer_id'),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('amount', money(), nullable=False),
        id_column('invoice_id', nullable=True),
        sa.Column('operator', sa.String(length=64), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        utc_column('created_at'),
        foreign_key('customer_credit', 'customer_id', 'customer'),
        foreign_key('customer_credit', 'invoice_id', 'invoice'),
    )
    op.create_index(op.f('ix_customer_credit_customer_id'), 'customer_credit', ['customer_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_customer_credit_customer_id'), table_name='customer_credit')
    op.drop_table('customer_credit')
    drop_columns('invoice', 'hold_reasons')
    op.drop_index('ix_total_charge_cycle', table_name='total_charge')
    op.drop_table('total_charge')
