"""rating schemes: a/b increments, minimum charges, prices with history

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 21:30:00

Issue 17: a voice increment scheme "a/b" on rate plans and destination tariffs
(`voice_first_s` is the block a; NULL keeps the plain "b/b" of `voice_increment_s`)
and a minimum charge per call. Issue 13.7: dated price changes of a plan
(`rate_plan_price`, NULL: the field does not change) and dated destination tariffs
(`tariff.valid_from`, NULL: from the beginning), unique per date. Time bands
(`rate_plan_band`): per-minute and per-SMS prices by weekday and local time.
Roaming: named zones (`roaming_zone`), a plan's prices per zone
(`rate_plan_roaming`), the EU fair-use columns, the CDR's `visited_country` and the
zone each CDR was rated in (`cdr_rating.zone`). Bill-shock: the customer's cap on
data roaming outside the EU/EEA per subscription per cycle (`roaming_data_cap`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from core.migrations.helpers import (add_columns, create_table_with_id, drop_columns,
                                     foreign_key, id_column, money, unique)

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _create_plan_table(name: str, key: str, *columns: sa.Column[Any]) -> None:
    """A table of a rate plan's rows (deleted with the plan), one row per `key`."""
    create_table_with_id(name, id_column('rate_plan_id'), *columns,
                         foreign_key(name, 'rate_plan_id', 'rate_plan', ondelete='CASCADE'),
                         unique(name, 'rate_plan_id', key))


def upgrade() -> None:
    add_columns('rate_plan', sa.Column('voice_first_s', sa.Integer(), nullable=True),
                sa.Column('minimum_charge', money(), nullable=False, server_default='0'))
    with op.batch_alter_table('tariff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voice_first_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('voice_increment_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('minimum_charge', money(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('valid_from', sa.Date(), nullable=True))
        # The new key first: on MariaDB the old one serves the foreign key until then.
        batch_op.create_unique_constraint(
            batch_op.f('uq_tariff_rate_plan_id_prefix_call_type_valid_from'),
            ['rate_plan_id', 'prefix', 'call_type', 'valid_from'])
        batch_op.drop_constraint(batch_op.f('uq_tariff_rate_plan_id_prefix_call_type'),
                                 type_='unique')
    _create_plan_table(
        'rate_plan_price', 'valid_from',
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.Column('monthly_fee', money(), nullable=True),
        sa.Column('voice_bundle_minutes', sa.Integer(), nullable=True),
        sa.Column('sms_bundle', sa.Integer(), nullable=True),
        sa.Column('data_bundle_mb', sa.Integer(), nullable=True),
        sa.Column('price_per_minute', money(), nullable=True),
        sa.Column('price_per_sms', money(), nullable=True),
        sa.Column('price_per_mb', money(), nullable=True),
        sa.Column('voice_first_s', sa.Integer(), nullable=True),
        sa.Column('voice_increment_s', sa.Integer(), nullable=True),
        sa.Column('setup_fee', money(), nullable=True),
        sa.Column('minimum_charge', money(), nullable=True),
    )
    _create_plan_table(
        'rate_plan_band', 'name',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('days', sa.String(length=40), nullable=False),
        sa.Column('start', sa.String(length=5), nullable=False),
        sa.Column('end', sa.String(length=5), nullable=False),
        sa.Column('price_per_minute', money(), nullable=True),
        sa.Column('price_per_sms', money(), nullable=True),
    )
    add_columns('rate_plan', sa.Column('eu_fair_use_gb', money(), nullable=True),
                sa.Column('eu_surcharge_per_mb', money(), nullable=False, server_default='0'))
    create_table_with_id(
        'roaming_zone',
        sa.Column('name', sa.String(length=16), nullable=False),
        sa.Column('countries', sa.Text(), nullable=False),
        unique('roaming_zone', 'name'),
    )
    _create_plan_table(
        'rate_plan_roaming', 'zone',
        sa.Column('zone', sa.String(length=16), nullable=False),
        sa.Column('voice_out_per_min', money(), nullable=False),
        sa.Column('voice_in_per_min', money(), nullable=False),
        sa.Column('sms_per_message', money(), nullable=False),
        sa.Column('data_per_mb', money(), nullable=False),
        sa.Column('voice_first_s', sa.Integer(), nullable=True),
        sa.Column('voice_increment_s', sa.Integer(), nullable=False),
    )
    add_columns('cdr', sa.Column('visited_country', sa.String(length=2), nullable=True))
    add_columns('cdr_rating', sa.Column('zone', sa.String(length=16), nullable=True))
    # a corrected country is kept too
    add_columns('cdr_correction', sa.Column('visited_country', sa.String(length=2), nullable=True))
    # Money is ten-thousandths on SQLite: the default €50 is 500000 there.
    fifty = '500000' if op.get_bind().dialect.name == 'sqlite' else '50'
    add_columns('customer', sa.Column('roaming_data_cap', money(), nullable=False,
                                      server_default=fifty))


def downgrade() -> None:
    drop_columns('customer', 'roaming_data_cap')
    drop_columns('cdr_correction', 'visited_country')
    drop_columns('cdr_rating', 'zone')
    drop_columns('cdr', 'visited_country')
    op.drop_table('rate_plan_roaming')
    op.drop_table('roaming_zone')
    drop_columns('rate_plan', 'eu_surcharge_per_mb', 'eu_fair_use_gb')
    op.drop_table('rate_plan_band')
    op.drop_table('rate_plan_price')
    with op.batch_alter_table('tariff', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_tariff_rate_plan_id_prefix_call_type'),
                                          ['rate_plan_id', 'prefix', 'call_type'])
        batch_op.drop_constraint(
            batch_op.f('uq_tariff_rate_plan_id_prefix_call_type_valid_from'), type_='unique')
        batch_op.drop_column('valid_from')
        batch_op.drop_column('minimum_charge')
        batch_op.drop_column('voice_increment_s')
        batch_op.drop_column('voice_first_s')
    drop_columns('rate_plan', 'minimum_charge', 'voice_first_s')
