"""cdr: provider_ref compared byte for byte; cdr_correction keeps replaced versions;
import_batch.corrected counts them; sync_task.status fits completed_with_warnings

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 21:40:00

On MariaDB the unique key (provider, provider_ref) used a case- and trailing-space-
insensitive collation: `aBc1`, `AbC1` and `abc1 ` were one CDR there and three on
SQLite. The column moves to utf8mb4_nopad_bin (existing rows are already distinct
under the stricter comparison, so nothing conflicts). SQLite already compares BINARY.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    if op.get_bind().dialect.name in ('mysql', 'mariadb'):
        op.execute("ALTER TABLE cdr MODIFY provider_ref VARCHAR(80) "
                   "CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL")
    with op.batch_alter_table('import_batch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('corrected', sa.Integer(), nullable=False, server_default='0'))
    if op.get_bind().dialect.name in ('mysql', 'mariadb'):  # 'completed_with_warnings' (SQLite: no limit)
        op.alter_column('sync_task', 'status', existing_type=sa.String(16), type_=sa.String(24),
                        existing_nullable=False)
    op.create_table(
        'cdr_correction',
        sa.Column('id', BigId, nullable=False),
        sa.Column('cdr_id', BigId, nullable=False),
        sa.Column('import_batch_id', BigId, nullable=False),
        sa.Column('replaced_batch_id', BigId, nullable=True),
        sa.Column('customer_id', BigId, nullable=False),
        sa.Column('subscription_id', BigId, nullable=False),
        sa.Column('cycle_start_date', sa.Date(), nullable=False),
        sa.Column('number', sa.String(length=20), nullable=False),
        sa.Column('call_date', core.models.base.UtcDateTime(), nullable=False),
        sa.Column('call_type', sa.String(length=8), nullable=False),
        sa.Column('destination', sa.String(length=32), nullable=False),
        sa.Column('duration_s', sa.Integer(), nullable=False),
        sa.Column('volume_kb', sa.Integer(), nullable=False),
        sa.Column('provider_cost', core.models.base.Money(precision=18, scale=4), nullable=False),
        sa.Column('roaming', sa.Boolean(), nullable=False),
        sa.Column('corrected_at', core.models.base.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['cdr_id'], ['cdr.id'], name=op.f('fk_cdr_correction_cdr_id_cdr')),
        sa.ForeignKeyConstraint(['import_batch_id'], ['import_batch.id'],
                                name=op.f('fk_cdr_correction_import_batch_id_import_batch')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cdr_correction')),
    )
    with op.batch_alter_table('cdr_correction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cdr_correction_cdr_id'), ['cdr_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cdr_correction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cdr_correction_cdr_id'))
    op.drop_table('cdr_correction')
    with op.batch_alter_table('import_batch', schema=None) as batch_op:
        batch_op.drop_column('corrected')
    if op.get_bind().dialect.name in ('mysql', 'mariadb'):
        op.execute("UPDATE sync_task SET status = 'completed' WHERE status = 'completed_with_warnings'")
        op.alter_column('sync_task', 'status', existing_type=sa.String(24), type_=sa.String(16),
                        existing_nullable=False)
    if op.get_bind().dialect.name in ('mysql', 'mariadb'):
        op.execute("ALTER TABLE cdr MODIFY provider_ref VARCHAR(80) "
                   "CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL")
