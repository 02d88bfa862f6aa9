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

from core.migrations.helpers import (add_columns, create_table_with_id, drop_columns,
                                     foreign_key, id_column, money, utc_column)

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _on_mariadb() -> bool:
    return op.get_bind().dialect.name in ('mysql', 'mariadb')


def upgrade() -> None:
    if _on_mariadb():
        op.execute("ALTER TABLE cdr MODIFY provider_ref VARCHAR(80) "
                   "CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL")
    add_columns('import_batch', sa.Column('corrected', sa.Integer(), nullable=False, server_default='0'))
    if _on_mariadb():  # 'completed_with_warnings' (SQLite: no limit)
        op.alter_column('sync_task', 'status', existing_type=sa.String(16), type_=sa.String(24),
                        existing_nullable=False)
    create_table_with_id(
        'cdr_correction',
        id_column('cdr_id'),
        id_column('import_batch_id'),
        id_column('replaced_batch_id', nullable=True),
        id_column('customer_id'),
        id_column('subscription_id'),
        sa.Column('cycle_start_date', sa.Date(), nullable=False),
        sa.Column('number', sa.String(length=20), nullable=False),
        utc_column('call_date'),
        sa.Column('call_type', sa.String(length=8), nullable=False),
        sa.Column('destination', sa.String(length=32), nullable=False),
        sa.Column('duration_s', sa.Integer(), nullable=False),
        sa.Column('volume_kb', sa.Integer(), nullable=False),
        sa.Column('provider_cost', money(), nullable=False),
        sa.Column('roaming', sa.Boolean(), nullable=False),
        utc_column('corrected_at'),
        foreign_key('cdr_correction', 'cdr_id', 'cdr'),
        foreign_key('cdr_correction', 'import_batch_id', 'import_batch'),
    )
    with op.batch_alter_table('cdr_correction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cdr_correction_cdr_id'), ['cdr_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cdr_correction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cdr_correction_cdr_id'))
    op.drop_table('cdr_correction')
    drop_columns('import_batch', 'corrected')
    if _on_mariadb():
        op.execute("UPDATE sync_task SET status = 'completed' WHERE status = 'completed_with_warnings'")
        op.alter_column('sync_task', 'status', existing_type=sa.String(24), type_=sa.String(16),
                        existing_nullable=False)
        op.execute("ALTER TABLE cdr MODIFY provider_ref VARCHAR(80) "
                   "CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL")
