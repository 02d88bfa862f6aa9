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

import core.models.base

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_method', sa.String(length=16), nullable=False,
                                      server_default='transfer'))
        batch_op.add_column(sa.Column('iban', sa.String(length=34), nullable=True))
        batch_op.add_column(sa.Column('bic', sa.String(length=11), nullable=True))
        batch_op.add_column(sa.Column('mandate_id', sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column('mandate_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('mandate_blocked', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('reminder_days', sa.String(length=32), nullable=True))
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=8), nullable=False, server_default='csv'))
        batch_op.add_column(sa.Column('end_to_end_id', sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column('counterparty_iban', sa.String(length=34), nullable=True))
        batch_op.add_column(sa.Column('return_reason', sa.String(length=8), nullable=True))
    op.create_table(
        'collection_batch',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('message_id', sa.String(length=35), nullable=False),
        sa.Column('collection_date', sa.Date(), nullable=False),
        sa.Column('item_count', sa.Integer(), nullable=False),
        sa.Column('total', core.models.base.Money(precision=18, scale=4), nullable=False),
        sa.Column('path', sa.String(length=500), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', core.models.base.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_collection_batch')),
        sa.UniqueConstraint('message_id', name=op.f('uq_collection_batch_message_id')),
    )
    op.create_table(
        'collection_item',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('batch_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('invoice_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('open_invoice_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('mandate_id', sa.String(length=35), nullable=False),
        sa.Column('sequence_type', sa.String(length=4), nullable=False),
        sa.Column('amount', core.models.base.Money(precision=18, scale=4), nullable=False),
        sa.Column('end_to_end_id', sa.String(length=35), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('return_reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['batch_id'], ['collection_batch.id'],
                                name=op.f('fk_collection_item_batch_id_collection_batch')),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'],
                                name=op.f('fk_collection_item_invoice_id_invoice')),
        sa.ForeignKeyConstraint(['customer_id'], ['customer.id'],
                                name=op.f('fk_collection_item_customer_id_customer')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_collection_item')),
        sa.UniqueConstraint('open_invoice_id', name=op.f('uq_collection_item_open_invoice_id')),
        sa.UniqueConstraint('end_to_end_id', name=op.f('uq_collection_item_end_to_end_id')),
    )
    op.create_index('ix_collection_item_batch_id', 'collection_item', ['batch_id'])
    op.create_index('ix_collection_item_invoice_id', 'collection_item', ['invoice_id'])
    op.create_index('ix_collection_item_mandate', 'collection_item', ['mandate_id'])
    op.create_index('ix_payment_end_to_end_id', 'payment', ['end_to_end_id'])


def downgrade() -> None:
    op.drop_index('ix_payment_end_to_end_id', table_name='payment')
    op.drop_table('collection_item')
    op.drop_table('collection_batch')
    with op.batch_alter_table('payment', schema=None) as batch_op:
        for name in ('return_reason', 'counterparty_iban', 'end_to_end_id', 'source'):
            batch_op.drop_column(name)
    with op.batch_alter_table('customer', schema=None) as batch_op:
        for name in ('reminder_days', 'mandate_blocked', 'mandate_date', 'mandate_id', 'bic', 'iban', 'payment_method'):
            batch_op.drop_column(name)
