"""The setup file's fields as data: one `Column` per managed model column, per kind.

Parsing (`document`), applying (`apply`) and exporting (`export`) all walk these
tables, so a field is added in one place. References between kinds (a customer's
partner, a subscription's rate plan) and nested tables are handled by name there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import String

from core.models import Customer, Partner, RatePlan, Subscription, SyncProfile, Tariff
from core.models.base import Base
from providers.base import CALL_TYPES, PLATFORMS, normalise_number

Scalar = str | int | bool | Decimal | date | None
Kind = Literal["text", "integer", "flag", "money", "date"]

INT_MAX = 2**31 - 1
MONEY_LIMIT = Decimal(10) ** 14  # DECIMAL(18,4)
MONEY_PLACES = 4
_PREFIX = re.compile(r"\+[1-9][0-9]{0,14}")
_COUNTRY = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True)
class Column:
    """One key of a setup table and the model column it maps to (same name)."""

    name: str
    kind: Kind
    default: Scalar = None  # used when the key is missing; None: nullable
    required: bool = False
    minimum: int = 0
    maximum: int = INT_MAX
    choices: tuple[str, ...] = ()
    max_length: int | None = None
    convert: Callable[[str], str] | None = None  # normalises or raises ValueError


def phone_number(raw: str) -> str:
    try:
        return normalise_number(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a phone number") from None


def time_zone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{raw!r} is not a known time zone (e.g. 'Europe/Amsterdam')") from None
    return raw


def tariff_prefix(raw: str) -> str:
    if not _PREFIX.fullmatch(raw):
        raise ValueError(f"{raw!r} is not a prefix: '+' followed by digits, e.g. '+44'")
    return raw


def country_code(raw: str) -> str:
    if not _COUNTRY.fullmatch(raw):
        raise ValueError(f"{raw!r} is not a two-letter country code in capitals, e.g. 'NL'")
    return raw


def non_blank(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw


def _length(model: type[Base], name: str) -> int | None:
    column_type = model.__table__.c[name].type
    return column_type.length if isinstance(column_type, String) else None


def _text(model: type[Base], name: str, *, required: bool = False, default: str | None = None,
          choices: tuple[str, ...] = (), convert: Callable[[str], str] | None = None) -> Column:
    if required and convert is None:
        convert = non_blank
    return Column(name, "text", default=default, required=required, choices=choices,
                  max_length=_length(model, name), convert=convert)


ZERO = Decimal("0")

PARTNER: tuple[Column, ...] = (
    _text(Partner, "name", required=True),
)

RATE_PLAN: tuple[Column, ...] = (
    _text(RatePlan, "name", required=True),
    Column("monthly_fee", "money", ZERO),
    Column("voice_bundle_minutes", "integer", 0),
    Column("sms_bundle", "integer", 0),
    Column("data_bundle_mb", "integer", 0),
    Column("price_per_minute", "money", ZERO),
    Column("price_per_sms", "money", ZERO),
    Column("price_per_mb", "money", ZERO),
    Column("voice_increment_s", "integer", 60, minimum=1),
    Column("setup_fee", "money", ZERO),
)

TARIFF: tuple[Column, ...] = (
    _text(Tariff, "prefix", required=True, convert=tariff_prefix),
    _text(Tariff, "call_type", required=True, choices=CALL_TYPES),
    Column("price", "money", required=True),
    Column("setup_fee", "money", ZERO),
)

CUSTOMER: tuple[Column, ...] = (
    _text(Customer, "code", required=True),
    _text(Customer, "name", required=True),
    _text(Customer, "language", default="nl", choices=("nl", "en")),
    Column("billing_day", "integer", 1, minimum=1, maximum=28),
    _text(Customer, "time_zone", default="Europe/Amsterdam", convert=time_zone),
    Column("rateplan_customer", "flag", True),
    Column("active", "flag", True),
    Column("auto_send", "flag", False),
    Column("test_mode", "flag", False),
    _text(Customer, "email"),
    _text(Customer, "vat_number"),
    _text(Customer, "country", default="NL", convert=country_code),
    _text(Customer, "address"),
)

SUBSCRIPTION: tuple[Column, ...] = (
    _text(Subscription, "number", required=True, convert=phone_number),
    _text(Subscription, "cost_centre"),
    Column("start_date", "date"),
    Column("end_date", "date"),
    Column("portation_date", "date"),
    _text(Subscription, "provider", choices=PLATFORMS),
)

SYNC_PROFILE: tuple[Column, ...] = (
    _text(SyncProfile, "name", required=True),
    _text(SyncProfile, "provider", required=True, choices=PLATFORMS),
    _text(SyncProfile, "base_url", required=True),
    _text(SyncProfile, "customer_ref", default=""),
    Column("interval_minutes", "integer", 1440, minimum=1),
    Column("active", "flag", True),
)

# Keys that are not plain columns: references by name, nested tables, credentials.
PARTNER_REF = "partner"
RATE_PLAN_REF = "rate_plan"
TARIFFS = "tariff"
SUBSCRIPTIONS = "subscription"
SYNC_PROFILES = "sync_profile"
CREDENTIALS = "credentials"
