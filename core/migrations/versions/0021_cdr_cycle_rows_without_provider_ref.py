"""cdr: the covering index of a customer-cycle's CDRs no longer holds provider_ref

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 17:00:00

The rating no longer reads every CDR's provider_ref: it only orders calls of the same
moment, and those few are looked up by id (`core.raw_store.provider_refs`). Kept in
`ix_cdr_cycle_rows` (0018), it made every entry of the index some 10 bytes longer for a
column nothing reads from it: the index is rebuilt without it (SQLite only; MariaDB reads
its clustered table).
"""

from __future__ import annotations

from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

BEFORE = ['customer_id', 'cycle_start_date', 'subscription_id', 'id', 'call_date', 'provider_ref', 'call_type',
          'destination', 'duration_s', 'volume_kb', 'provider_cost', 'roaming', 'visited_country']
AFTER = [column for column in BEFORE if column != 'provider_ref']


def _on_sqlite() -> bool:
    return op.get_bind().dialect.name == 'sqlite'


def upgrade() -> None:
    if _on_sqlite():
        op.drop_index('ix_cdr_cycle_rows', table_name='cdr')
        op.create_index('ix_cdr_cycle_rows', 'cdr', AFTER)


def downgrade() -> None:
    if _on_sqlite():
        op.drop_index('ix_cdr_cycle_rows', table_name='cdr')
        op.create_index('ix_cdr_cycle_rows', 'cdr', BEFORE)
