"""cdr: on SQLite, a customer-cycle's CDRs read from one covering index

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 14:00:00

Rating a customer-cycle reads its 20,000 CDRs. SQLite stores `cdr` in rowid (arrival)
order, so through the narrow (customer_id, cycle_start_date, subscription_id) index the
read was 20,000 look-ups spread over most of the table's pages: 38 ms with the pages
cached, 60 ms after another connection had written (in WAL mode SQLite then drops the
reader's cache and its file mapping, and every page is fetched again), at 1M CDRs. With
every column the rating reads in the index, a cycle is one contiguous range of it:
21-22 ms either way, whatever order the CDRs arrived in (5-minute syncs interleave every
customer's). The index leads with the narrow one's columns and `id`, so the rows come in
the same order as before (subscription, then id).

Its cost, measured with the bench's 1M-CDR CSV import (both the project and its raw floor
maintain the index): 11.0-12.0 s -> 13.6-16.0 s, and the file grows by ~100 MB per 1M CDRs
(236 -> 336 MB). A CDR is imported once and its cycle recalculated after every sync that
touches it, so the read is the side to make cheap. MariaDB needs no such index: its table
is clustered by (customer_id, cycle_start_date, id) since 0017.
"""

from __future__ import annotations

from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

COLUMNS = ['customer_id', 'cycle_start_date', 'subscription_id', 'id', 'call_date', 'provider_ref', 'call_type',
           'destination', 'duration_s', 'volume_kb', 'provider_cost', 'roaming', 'visited_country']


def _on_sqlite() -> bool:
    return op.get_bind().dialect.name == 'sqlite'


def upgrade() -> None:
    if _on_sqlite():
        op.create_index('ix_cdr_cycle_rows', 'cdr', COLUMNS)
        op.drop_index('ix_cdr_customer_cycle', table_name='cdr')


def downgrade() -> None:
    if _on_sqlite():
        op.create_index('ix_cdr_customer_cycle', 'cdr', ['customer_id', 'cycle_start_date', 'subscription_id'])
        op.drop_index('ix_cdr_cycle_rows', table_name='cdr')
