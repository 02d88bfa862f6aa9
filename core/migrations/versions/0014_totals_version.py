"""totals versions: when each was calculated and what caused it

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 00:10:00

The totals history showed bare version numbers; each calculation now records its time and
cause (sync, import, schedule, "recalculation by <operator>", invoice run). Versions made
before this migration have no row and show their archive time instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'totals_version',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('cycle_start_date', sa.Date(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('calculated_at', core.models.base.UtcDateTime(), nullable=False),
        sa.Column('cause', sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_totals_version_customer_id_customer')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_totals_version')),
        sa.UniqueConstraint('customer_id', 'cycle_start_date', 'version',
                            name=op.f('uq_totals_version_customer_id_cycle_start_date_version')),
    )


def downgrade() -> None:
    op.drop_table('totals_version')
