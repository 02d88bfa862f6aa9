"""invoice usage specification (13.2), charges per band, scheme, zone and price version (13.1, 17.5),
corrections carried on the next invoice (13.6)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 00:15:00

Per customer `specification` (the usage annex on its invoices), and the annex's rows
stored with each invoice so that a re-rendered PDF shows what was issued. A total
charge says which roaming zone, time band and increment scheme its price has, how many
calls were billed the minimum charge, the EU data beyond the fair-use volume, and the
days of its first and last call (a price changed in the cycle gives two charges), and
its raw usage (the specification's usage per roaming zone).
`invoice_correction` records a pending correction carried as a line on a later invoice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_MONEY = core.models.base.Money(precision=18, scale=4)


def upgrade() -> None:
    with op.batch_alter_table('total_charge', schema=None) as batch_op:
        batch_op.add_column(sa.Column('zone', sa.String(length=16), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('band', sa.String(length=40), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('increment', sa.String(length=12), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('minimum_charge', _MONEY, nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('minimums', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('surcharge_per_mb', _MONEY, nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('surcharged', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('first_day', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('last_day', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('used', sa.Integer(), nullable=False, server_default='0'))
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
        sa.Column('zone', sa.String(length=16), nullable=False),
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
    op.create_table(
        'invoice_correction',
        sa.Column('id', _ID, nullable=False),
        sa.Column('invoice_id', _ID, nullable=False),
        sa.Column('carried_on_id', _ID, nullable=False),
        sa.Column('amount', _MONEY, nullable=False),
        sa.Column('created_at', core.models.base.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_invoice_correction_invoice_id_invoice')),
        sa.ForeignKeyConstraint(['carried_on_id'], ['invoice.id'],
                                name=op.f('fk_invoice_correction_carried_on_id_invoice')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_correction')),
    )
    op.create_index(op.f('ix_invoice_correction_invoice_id'), 'invoice_correction', ['invoice_id'], unique=False)
    op.create_index(op.f('ix_invoice_correction_carried_on_id'), 'invoice_correction', ['carried_on_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_invoice_correction_carried_on_id'), table_name='invoice_correction')
    op.drop_index(op.f('ix_invoice_correction_invoice_id'), table_name='invoice_correction')
    op.drop_table('invoice_correction')
    op.drop_index(op.f('ix_invoice_specification_line_invoice_id'),
                  table_name='invoice_specification_line')
    op.drop_table('invoice_specification_line')
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('specification')
    with op.batch_alter_table('total_charge', schema=None) as batch_op:
        for column in ('used', 'last_day', 'first_day', 'surcharged', 'surcharge_per_mb', 'minimums',
                       'minimum_charge', 'increment', 'band', 'zone'):
            batch_op.drop_column(column)
