"""cdr_rating: its foreign key is the CDR's (customer_id, cycle_start_date, id)

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 14:30:00

A rating referenced its CDR by `cdr_id` alone, and its customer on its own. Three faults:
- SQLite had no index on `cdr_rating.cdr_id` (the table is keyed by customer, cycle, cdr),
  so every deleted CDR made it scan all of `cdr_rating` for a referencing rating. The import
  deletes the rows a refused statement left (core/cdr_store.py): 1,000 fresh CDRs took 0.56 s
  beside 20,000 ratings, and grow with the ratings (a million of them: minutes, holding the
  write lock). With the key below the check is one look-up in the rating's primary key: 0.017 s.
- Each new rating looked its CDR up by rowid, pages all over `cdr`: 25 ms of a 55 ms insert of
  20,000 ratings. Through the (customer_id, cycle_start_date, id) key the look-ups walk one
  range: 10 ms.
- Nothing tied a rating to its CDR's customer-cycle: a rating filed under another cycle would
  be summed into that cycle's totals. Now the database refuses it.
The rating's own key to `customer` goes: its customer is its CDR's, whose key to `customer`
holds, and checking it again cost 4 ms of each 20,000 ratings inserted. On SQLite the new key
needs a unique index on those columns of `cdr`; on MariaDB they are the primary key (0017),
and the index InnoDB made for the old key on `cdr_rating.cdr_id` goes (each rating written
updated it).
"""

from __future__ import annotations

from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

_RATING_COLUMNS = ('customer_id, cycle_start_date, cdr_id, subscription_id, call_type, rated_amount, bundle_used, '
                   'zone, duration_s, volume_kb, provider_cost')


def _sqlite_rating_table(name: str, keys: str) -> str:
    return f"""CREATE TABLE {name} (
    customer_id INTEGER NOT NULL,
    cycle_start_date DATE NOT NULL,
    cdr_id INTEGER NOT NULL,
    subscription_id INTEGER NOT NULL,
    call_type VARCHAR(8) NOT NULL,
    rated_amount BIGINT NOT NULL,
    bundle_used INTEGER NOT NULL,
    zone VARCHAR(16),
    duration_s INTEGER DEFAULT '0' NOT NULL,
    volume_kb INTEGER DEFAULT '0' NOT NULL,
    provider_cost BIGINT DEFAULT '0' NOT NULL,
    CONSTRAINT pk_cdr_rating PRIMARY KEY (customer_id, cycle_start_date, cdr_id),
    {keys}
) WITHOUT ROWID"""


def _sqlite_rebuild(keys: str) -> None:
    """cdr_rating anew with the foreign `keys` (SQLite alters none in place); nothing refers to it."""
    op.execute(_sqlite_rating_table("cdr_rating_new", keys))
    op.execute(f"INSERT INTO cdr_rating_new ({_RATING_COLUMNS}) SELECT {_RATING_COLUMNS} FROM cdr_rating")
    op.execute("DROP TABLE cdr_rating")
    op.execute("ALTER TABLE cdr_rating_new RENAME TO cdr_rating")


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.create_index('uq_cdr_cycle_id', 'cdr', ['customer_id', 'cycle_start_date', 'id'], unique=True)
        _sqlite_rebuild("CONSTRAINT fk_cdr_rating_cdr FOREIGN KEY(customer_id, cycle_start_date, cdr_id) "
                        "REFERENCES cdr (customer_id, cycle_start_date, id)")
    else:
        op.execute("ALTER TABLE cdr_rating DROP FOREIGN KEY fk_cdr_rating_cdr_id_cdr, "
                   "DROP FOREIGN KEY fk_cdr_rating_customer_id_customer, "
                   "ADD CONSTRAINT fk_cdr_rating_cdr FOREIGN KEY (customer_id, cycle_start_date, cdr_id) "
                   "REFERENCES cdr (customer_id, cycle_start_date, id)")
        op.execute("ALTER TABLE cdr_rating DROP INDEX fk_cdr_rating_cdr_id_cdr")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _sqlite_rebuild("CONSTRAINT fk_cdr_rating_cdr_id_cdr FOREIGN KEY(cdr_id) REFERENCES cdr (id),\n    "
                        "CONSTRAINT fk_cdr_rating_customer_id_customer FOREIGN KEY(customer_id) REFERENCES customer (id)")
        op.drop_index('uq_cdr_cycle_id', table_name='cdr')
    else:
        op.execute("ALTER TABLE cdr_rating DROP FOREIGN KEY fk_cdr_rating_cdr, "
                   "ADD CONSTRAINT fk_cdr_rating_cdr_id_cdr FOREIGN KEY (cdr_id) REFERENCES cdr (id), "
                   "ADD CONSTRAINT fk_cdr_rating_customer_id_customer FOREIGN KEY (customer_id) REFERENCES customer (id)")
