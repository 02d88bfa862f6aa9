"""billing additions: batch invoices, notifications, credit-note reason, export progress

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('batch_invoice',
    sa.Column('id', _ID, nullable=False),
    sa.Column('issuer', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('client_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('subtotal', core.models.base.Money(precision=18, scale=4), nullable=False),
    sa.Column('vat_rate', core.models.base.Money(precision=18, scale=4), nullable=False),
    sa.Column('vat', core.models.base.Money(precision=18, scale=4), nullable=False),
    sa.Column('total', core.models.base.Money(precision=18, scale=4), nullable=False),
    sa.Column('reverse_charge', sa.Boolean(), nullable=False),
    sa.Column('pdf_path', sa.String(length=500), nullable=False),
    sa.Column('source', sa.String(length=500), nullable=False),
    sa.Column('created_at', core.models.base.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch_invoice')),
    sa.UniqueConstraint('issuer', 'number', name=op.f('uq_batch_invoice_issuer_number')),
    sa.UniqueConstraint('period', 'fingerprint', name=op.f('uq_batch_invoice_period_fingerprint'))
    )
    with op.batch_alter_table('batch_invoice', schema=None) as batch_op:
        batch_op.create_index('ix_batch_invoice_client_period', ['client_id', 'period'], unique=False)

    op.create_table('notification',
    sa.Column('id', _ID, nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('recipient', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('covered_until', core.models.base.UtcDateTime(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('created_at', core.models.base.UtcDateTime(), nullable=False),
    sa.Column('sent_at', core.models.base.UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification')),
    sa.UniqueConstraint('kind', 'key', name=op.f('uq_notification_kind_key'))
    )

    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note', sa.Text(), nullable=True))
    with op.batch_alter_table('export_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('total_rows', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('notify_email', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('export_job', schema=None) as batch_op:
        batch_op.drop_column('notify_email')
        batch_op.drop_column('total_rows')
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_column('note')
    op.drop_table('notification')
    with op.batch_alter_table('batch_invoice', schema=None) as batch_op:
        batch_op.drop_index('ix_batch_invoice_client_period')
    op.drop_table('batch_invoice')
