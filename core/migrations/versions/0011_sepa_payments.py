"""SEPA direct debit, bank statements and payment data on the customer

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 22:00:00

Customers get a payment method, IBAN/BIC and a SEPA mandate; payments remember where
they came from (CSV or CAMT.053), their end-to-end id and, for a returned debit, its
reason code; collection batches and items record every pain.008 file and invoice
collected, so an invoice is never collected twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import (add_columns, create_table_with_id, drop_columns,
                                     foreign_key, id_column, money, unique, utc_column)

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_columns(
        'customer',
        sa.Column('payment_method', sa.String(length=16), nullable=False, server_default='transfer'),
        sa.Column('iban', sa.String(length=34), nullable=True),
        sa.Column('bic', sa.String(length=11), nullable=True),
        sa.Column('mandate_id', sa.String(length=35), nullable=True),
        sa.Column('mandate_date', sa.Date(), nullable=True),
        sa.Column('mandate_blocked', sa.String(length=200), nullable=True),
        sa.Column('reminder_days', sa.String(length=32), nullable=True),
    )
    add_columns(
        'payment',
        sa.Column('source', sa.String(length=8), nullable=False, server_default='csv'),
        sa.Column('end_to_end_id', sa.String(length=35), nullable=True),
        sa.Column('counterparty_iban', sa.String(length=34), nullable=True),
        sa.Column('return_reason', sa.String(length=8), nullable=True),
    )
    create_table_with_id(
        'collection_batch',
        sa.Column('message_id', sa.String(length=35), nullable=False),
        sa.Column('collection_date', sa.Date(), nullable=False),
        sa.Column('item_count', sa.Integer(), nullable=False),
        sa.Column('total', money(), nullable=False),
        sa.Column('path', sa.String(length=500), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        utc_column('created_at'),
        unique('collection_batch', 'message_id'),
    )
    create_table_with_id(
        'collection_item',
        id_column('batch_id'),
        id_column('invoice_id'),
        id_column('open_invoice_id', nullable=True),
        id_column('customer_id'),
        sa.Column('mandate_id', sa.String(length=35), nullable=False),
        sa.Column('sequence_type', sa.String(length=4), nullable=False),
        sa.Column('amount', money(), nullable=False),
        sa.Column('end_to_end_id', sa.String(length=35), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('return_reason', sa.Text(), nullable=True),
        foreign_key('collection_item', 'batch_id', 'collection_batch'),
        foreign_key('collection_item', 'invoice_id', 'invoice'),
        foreign_key('collection_item', 'customer_id', 'customer'),
        unique('collection_item', 'open_invoice_id'),
        unique('collection_item', 'end_to_end_id'),
    )
    op.create_index('ix_collection_item_batch_id', 'collection_item', ['batch_id'])
    op.create_index('ix_collection_item_invoice_id', 'collection_item', ['invoice_id'])
    op.create_index('ix_collection_item_mandate', 'collection_item', ['mandate_id'])
    op.create_index('ix_payment_end_to_end_id', 'payment', ['end_to_end_id'])


def downgrade() -> None:
    op.drop_index('ix_payment_end_to_end_id', table_name='payment')
    op.drop_table('collection_item')
    op.drop_table('collection_batch')
    drop_columns('payment', 'return_reason', 'counterparty_iban', 'end_to_end_id', 'source')
    drop_columns('customer', 'reminder_days', 'mandate_blocked', 'mandate_date', 'mandate_id',
                 'bic', 'iban', 'payment_method')
