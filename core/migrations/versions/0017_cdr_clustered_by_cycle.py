"""cdr: on MariaDB, clustered by (customer_id, cycle_start_date, id)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 08:00:00

Rating a customer-cycle reads its 20,000 CDRs. InnoDB stores a table in its primary key's
order; by `id` alone a customer's CDRs lie interleaved with every other customer's, so the
read was 20,000 primary-key look-ups from the (customer_id, cycle_start_date,
subscription_id) index: ~90 ms of the server's CPU per cycle at 1M CDRs. Clustered by
customer-cycle first they are one contiguous range (~27 ms). `id` stays unique (its own
key: the auto-increment column and the other tables' foreign keys need one), and the
narrow index goes, its leading columns now the primary key's.

Measured against the alternative, a covering secondary index holding every column the
rating reads (~21 ms a cycle): importing 200,000 CDRs cost the server 38% more CPU with
it, against 8% more with this key (the import appends to one place per customer-cycle).
SQLite keeps its rowid table and the narrow index.
"""

from __future__ import annotations

from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def _on_mariadb() -> bool:
    return op.get_bind().dialect.name in ('mysql', 'mariadb')


def upgrade() -> None:
    if _on_mariadb():  # one statement: the table is rebuilt once
        op.execute("ALTER TABLE cdr DROP PRIMARY KEY, ADD PRIMARY KEY (customer_id, cycle_start_date, id), "
                   "ADD CONSTRAINT uq_cdr_id UNIQUE (id), DROP INDEX ix_cdr_customer_cycle")


def downgrade() -> None:
    if _on_mariadb():
        op.execute("ALTER TABLE cdr DROP PRIMARY KEY, ADD PRIMARY KEY (id), DROP INDEX uq_cdr_id, "
                   "ADD INDEX ix_cdr_customer_cycle (customer_id, cycle_start_date, subscription_id)")
