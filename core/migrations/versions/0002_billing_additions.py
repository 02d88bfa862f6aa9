"""billing additions: batch invoices, notifications, credit-note reason, export progress

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import (add_columns, create_table_with_id, drop_columns, money,
                                     unique, utc_column)

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_table_with_id(
        'batch_invoice',
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
        sa.Column('subtotal', money(), nullable=False),
        sa.Column('vat_rate', money(), nullable=False),
        sa.Column('vat', money(), nullable=False),
        sa.Column('total', money(), nullable=False),
        sa.Column('reverse_charge', sa.Boolean(), nullable=False),
        sa.Column('pdf_path', sa.String(length=500), nullable=False),
        sa.Column('source', sa.String(length=500), nullable=False),
        utc_column('created_at'),
        unique('batch_invoice', 'issuer', 'number'),
        unique('batch_invoice', 'period', 'fingerprint'),
    )
    with op.batch_alter_table('batch_invoice', schema=None) as batch_op:
        batch_op.create_index('ix_batch_invoice_client_period', ['client_id', 'period'], unique=False)

    create_table_with_id(
        'notification',
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('key', sa.String(length=120), nullable=False),
        sa.Column('recipient', sa.String(length=500), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        utc_column('covered_until', nullable=True),
        sa.Column('detail', sa.Text(), nullable=True),
        utc_column('created_at'),
        utc_column('sent_at', nullable=True),
        unique('notification', 'kind', 'key'),
    )

    add_columns('invoice', sa.Column('note', sa.Text(), nullable=True))
    add_columns('export_job', sa.Column('total_rows', sa.Integer(), nullable=True),
                sa.Column('notify_email', sa.String(length=200), nullable=True))


def downgrade() -> None:
    drop_columns('export_job', 'notify_email', 'total_rows')
    drop_columns('invoice', 'note')
    op.drop_table('notification')
    with op.batch_alter_table('batch_invoice', schema=None) as batch_op:
        batch_op.drop_index('ix_batch_invoice_client_period')
    op.drop_table('batch_invoice')
