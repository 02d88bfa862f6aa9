"""cdr_rating: on SQLite, an index of the ratings rated in a roaming zone

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30 17:10:00

Every customer-cycle's insights ask first whether any of its ratings has a roaming zone
(`core.insights`), and most have none: the answer scanned all of the cycle's ratings,
2 ms of every recalculation at 20,000 CDRs. A partial index holds only the ratings with a
zone, so the answer is one look-up, and it costs nothing to ratings at home. SQLite only
(MariaDB has no partial indexes; its scan is the server's, in its clustered table).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.create_index('ix_cdr_rating_zoned', 'cdr_rating', ['customer_id', 'cycle_start_date', 'zone'],
                        sqlite_where=sa.text('zone IS NOT NULL'))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.drop_index('ix_cdr_rating_zoned', table_name='cdr_rating')
