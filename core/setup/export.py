"""`export_setup`: the database's setup written back as a setup file.

The output is deterministic (sorted by natural key, no timestamps), so export →
apply → export gives the same text and a diff of two exports shows real changes.
Amounts are written exactly: positional, without trailing zeros, always with a
decimal point so TOML reads them back as numbers with a fraction (12.5, 100.0).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import tomli_w
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core.db import Database
from core.models import (
    Customer,
    Partner,
    RatePlan,
    RatePlanBand,
    RatePlanRoaming,
    RoamingZone,
    Subscription,
    SyncProfile,
)
from core.models.base import Base
from core.rating.plan import DAY_NAMES
from core.setup import schema
from core.setup.report import plain_decimal
from core.setup.schema import Column

HEADER = """\
# Expensis setup, written by `expensis export-setup`; apply it with `expensis apply FILE`.
# Format: docs/formats/setup.md. Sync profile credentials are not exported: they stay
# encrypted in the database, and apply keeps them for a profile without `credentials`.

"""


def _value(value: object) -> object:
    return Decimal(plain_decimal(value)) if isinstance(value, Decimal) else value


def _table(row: Base, columns: tuple[Column, ...], refs: dict[str, str | None] | None = None,
           after: str = "") -> dict[str, Any]:
    """The row's managed columns in schema order, `refs` (names of related rows) after `after`."""
    table: dict[str, Any] = {}
    for column in columns:
        value = getattr(row, column.name)
        if value is not None:
            table[column.name] = _value(value)
        if column.name == after:
            table.update((k, v) for k, v in (refs or {}).items() if v is not None)
    return table


def _section(name: str, table: dict[str, Any]) -> str:
    """One `[[name]]` table; tomli-w writes the values (it would inline short arrays)."""
    return f"[[{name}]]\n{tomli_w.dumps(table, multiline_strings=True)}"


def export_setup(db: Database) -> str:
    """Every partner, rate plan (with tariffs) and customer (with subscriptions and profiles)."""
    with db.reader() as session:
        partners = session.scalars(select(Partner)).all()
        plans = session.scalars(select(RatePlan).options(
            selectinload(RatePlan.tariffs), selectinload(RatePlan.prices),
            selectinload(RatePlan.bands), selectinload(RatePlan.roaming))).all()
        customers = session.scalars(select(Customer).options(selectinload(Customer.partner))).all()
        subscriptions: dict[int, list[Subscription]] = defaultdict(list)
        for sub in session.scalars(select(Subscription).options(selectinload(Subscription.rate_plan))):
            subscriptions[sub.customer_id].append(sub)
        profiles: dict[int, list[SyncProfile]] = defaultdict(list)
        for profile in session.scalars(select(SyncProfile)):
            profiles[profile.customer_id].append(profile)

        sections = [_section("partner", _table(p, schema.PARTNER))
                    for p in sorted(partners, key=lambda p: p.name)]
        sections.extend(_section(schema.ROAMING_ZONES, _zone_table(z))
                        for z in sorted(session.scalars(select(RoamingZone)), key=lambda z: z.name))
        for plan in sorted(plans, key=lambda p: p.name):
            sections.extend(_plan_sections(plan))
        for customer in sorted(customers, key=lambda c: c.code):
            sections.extend(_customer_sections(customer, subscriptions[customer.id],
                                               profiles[customer.id]))
    return HEADER + "\n".join(sections)


def _with_scheme(table: dict[str, Any], first_s: int | None, step_s: int | None) -> dict[str, Any]:
    """``voice_increment_s = N`` becomes ``voice_increment = "a/b"`` when a first block differs."""
    if first_s is None or step_s is None:
        return table
    return {(schema.VOICE_INCREMENT if k == schema.VOICE_INCREMENT_S else k):
            (f"{first_s}/{step_s}" if k == schema.VOICE_INCREMENT_S else v)
            for k, v in {**table, schema.VOICE_INCREMENT_S: step_s}.items()}


def _plan_sections(plan: RatePlan) -> list[str]:
    name = f"rate_plan.{schema.TARIFFS}"
    return [_section("rate_plan", _with_scheme(_table(plan, schema.RATE_PLAN),
                                               plan.voice_first_s, plan.voice_increment_s)),
            *(_section(name, _with_scheme(_table(t, schema.TARIFF),
                                          t.voice_first_s, t.voice_increment_s))
              for t in sorted(plan.tariffs, key=lambda t: (t.prefix, t.call_type,
                                                           t.valid_from or date.min))),
            *(_section(f"rate_plan.{schema.PRICES}", _with_scheme(
                _table(p, schema.PRICE), p.voice_first_s, p.voice_increment_s))
              for p in sorted(plan.prices, key=lambda p: p.valid_from)),
            *(_section(f"rate_plan.{schema.BANDS}", _band_table(b))
              for b in sorted(plan.bands, key=lambda b: b.name)),
            *(_section(f"rate_plan.{schema.ROAMINGS}", _roaming_table(r))
              for r in sorted(plan.roaming, key=lambda r: r.zone))]


def _roaming_table(price: RatePlanRoaming) -> dict[str, Any]:
    first = price.voice_first_s or price.voice_increment_s
    return {**_table(price, schema.ROAMING),
            schema.VOICE_INCREMENT: f"{first}/{price.voice_increment_s}"}


def _zone_table(zone: RoamingZone) -> dict[str, Any]:
    return {"name": zone.name, schema.ZONE_COUNTRIES: zone.countries.split(",")}


def _band_table(band: RatePlanBand) -> dict[str, Any]:
    """Name, days (as an array), start, end, prices."""
    table = _table(band, schema.BAND)
    days = band.days.split(",")
    shortcut = {",".join(v): k for k, v in
                (("weekdays", DAY_NAMES[:5]), ("weekend", DAY_NAMES[5:]), ("daily", DAY_NAMES))}
    return {"name": table.pop("name"),
            schema.BAND_DAYS: shortcut.get(band.days, days), **table}


def _customer_sections(customer: Customer, subscriptions: list[Subscription],
                       profiles: list[SyncProfile]) -> list[str]:
    partner = customer.partner.name if customer.partner else None
    sections = [_section("customer", _table(customer, schema.CUSTOMER,
                                            {schema.PARTNER_REF: partner}, after="name"))]
    for sub in sorted(subscriptions, key=lambda s: s.number):
        plan = sub.rate_plan.name if sub.rate_plan else None
        sections.append(_section(f"customer.{schema.SUBSCRIPTIONS}", _table(
            sub, schema.SUBSCRIPTION, {schema.RATE_PLAN_REF: plan}, after="number")))
    sections.extend(_section(f"customer.{schema.SYNC_PROFILES}", _table(p, schema.SYNC_PROFILE))
                    for p in sorted(profiles, key=lambda p: p.name))
    return sections
