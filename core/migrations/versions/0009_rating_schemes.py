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

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _money() -> core.models.base.Money:
    return core.models.base.Money(precision=18, scale=4)


def upgrade() -> None:
    with op.batch_alter_table('rate_plan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voice_first_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('minimum_charge', _money(), nullable=False,
                                      server_default='0'))
    with op.batch_alter_table('tariff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voice_first_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('voice_increment_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('minimum_charge', _money(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('valid_from', sa.Date(), nullable=True))
        # The new key first: on MariaDB the old one serves the foreign key until then.
        batch_op.create_unique_constraint(
            batch_op.f('uq_tariff_rate_plan_id_prefix_call_type_valid_from'),
            ['rate_plan_id', 'prefix', 'call_type', 'valid_from'])
        batch_op.drop_constraint(batch_op.f('uq_tariff_rate_plan_id_prefix_call_type'),
                                 type_='unique')
    op.create_table(
        'rate_plan_price',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('rate_plan_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.Column('monthly_fee', _money(), nullable=True),
        sa.Column('voice_bundle_minutes', sa.Integer(), nullable=True),
        sa.Column('sms_bundle', sa.Integer(), nullable=True),
        sa.Column('data_bundle_mb', sa.Integer(), nullable=True),
        sa.Column('price_per_minute', _money(), nullable=True),
        sa.Column('price_per_sms', _money(), nullable=True),
        sa.Column('price_per_mb', _money(), nullable=True),
        sa.Column('voice_first_s', sa.Integer(), nullable=True),
        sa.Column('voice_increment_s', sa.Integer(), nullable=True),
        sa.Column('setup_fee', _money(), nullable=True),
        sa.Column('minimum_charge', _money(), nullable=True),
        sa.ForeignKeyConstraint(['rate_plan_id'], ['rate_plan.id'],
                                name=op.f('fk_rate_plan_price_rate_plan_id_rate_plan'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_plan_price')),
        sa.UniqueConstraint('rate_plan_id', 'valid_from',
                            name=op.f('uq_rate_plan_price_rate_plan_id_valid_from')),
    )

    op.create_table(
        'rate_plan_band',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('rate_plan_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('days', sa.String(length=40), nullable=False),
        sa.Column('start', sa.String(length=5), nullable=False),
        sa.Column('end', sa.String(length=5), nullable=False),
        sa.Column('price_per_minute', _money(), nullable=True),
        sa.Column('price_per_sms', _money(), nullable=True),
        sa.ForeignKeyConstraint(['rate_plan_id'], ['rate_plan.id'],
                                name=op.f('fk_rate_plan_band_rate_plan_id_rate_plan'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_plan_band')),
        sa.UniqueConstraint('rate_plan_id', 'name',
                            name=op.f('uq_rate_plan_band_rate_plan_id_name')),
    )

    with op.batch_alter_table('rate_plan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('eu_fair_use_gb', _money(), nullable=True))
        batch_op.add_column(sa.Column('eu_surcharge_per_mb', _money(), nullable=False,
                                      server_default='0'))
    op.create_table(
        'roaming_zone',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('name', sa.String(length=16), nullable=False),
        sa.Column('countries', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_roaming_zone')),
        sa.UniqueConstraint('name', name=op.f('uq_roaming_zone_name')),
    )
    op.create_table(
        'rate_plan_roaming',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('rate_plan_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  nullable=False),
        sa.Column('zone', sa.String(length=16), nullable=False),
        sa.Column('voice_out_per_min', _money(), nullable=False),
        sa.Column('voice_in_per_min', _money(), nullable=False),
        sa.Column('sms_per_message', _money(), nullable=False),
        sa.Column('data_per_mb', _money(), nullable=False),
        sa.Column('voice_first_s', sa.Integer(), nullable=True),
        sa.Column('voice_increment_s', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['rate_plan_id'], ['rate_plan.id'],
                                name=op.f('fk_rate_plan_roaming_rate_plan_id_rate_plan'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_plan_roaming')),
        sa.UniqueConstraint('rate_plan_id', 'zone',
                            name=op.f('uq_rate_plan_roaming_rate_plan_id_zone')),
    )
    with op.batch_alter_table('cdr', schema=None) as batch_op:
        batch_op.add_column(sa.Column('visited_country', sa.String(length=2), nullable=True))
    with op.batch_alter_table('cdr_rating', schema=None) as batch_op:
        batch_op.add_column(sa.Column('zone', sa.String(length=16), nullable=True))
    with op.batch_alter_table('cdr_correction', schema=None) as batch_op:  # a corrected country is kept too
        batch_op.add_column(sa.Column('visited_country', sa.String(length=2), nullable=True))
    # Money is ten-thousandths on SQLite: the default €50 is 500000 there.
    fifty = '500000' if op.get_bind().dialect.name == 'sqlite' else '50'
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('roaming_data_cap', _money(), nullable=False,
                                      server_default=fifty))


def downgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('roaming_data_cap')
    with op.batch_alter_table('cdr_correction', schema=None) as batch_op:
        batch_op.drop_column('visited_country')
    with op.batch_alter_table('cdr_rating', schema=None) as batch_op:
        batch_op.drop_column('zone')
    with op.batch_alter_table('cdr', schema=None) as batch_op:
        batch_op.drop_column('visited_country')
    op.drop_table('rate_plan_roaming')
    op.drop_table('roaming_zone')
    with op.batch_alter_table('rate_plan', schema=None) as batch_op:
        batch_op.drop_column('eu_surcharge_per_mb')
        batch_op.drop_column('eu_fair_use_gb')
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
    with op.batch_alter_table('rate_plan', schema=None) as batch_op:
        batch_op.drop_column('minimum_charge')
        batch_op.drop_column('voice_first_s')
