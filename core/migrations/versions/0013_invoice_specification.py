"""invoice usage specification (issue 13.2)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 00:15:00

Per customer `specification` (the usage annex on its invoices), and the annex's rows
stored with each invoice so that a re-rendered PDF shows what was issued.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_MONEY = core.models.base.Money(precision=18, scale=4)


def upgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('specification', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.create_table(
        'invoice_specification_line',
        sa.Column('id', _ID, nullable=False),
        sa.Column('invoice_id', _ID, nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('subscription_number', sa.String(length=20), nullable=False),
        sa.Column('cost_centre', sa.String(length=64), nullable=False),
        sa.Column('call_type', sa.String(length=8), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('usage', _MONEY, nullable=False),
        sa.Column('in_bundle', _MONEY, nullable=False),
        sa.Column('beyond', _MONEY, nullable=False),
        sa.Column('unit', sa.String(length=16), nullable=False),
        sa.Column('amount', _MONEY, nullable=False),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], ondelete='CASCADE',
                                name=op.f('fk_invoice_specification_line_invoice_id_invoice')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_specification_line')),
    )
    op.create_index(op.f('ix_invoice_specification_line_invoice_id'), 'invoice_specification_line',
                    ['invoice_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_invoice_specification_line_invoice_id'),
                  table_name='invoice_specification_line')
    op.drop_table('invoice_specification_line')
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('specification')
