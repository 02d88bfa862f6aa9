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

from core.models import (
    Customer,
    Partner,
    RatePlan,
    RatePlanBand,
    RatePlanRoaming,
    RoamingZone,
    Subscription,
    SyncProfile,
    Tariff,
)
from core.models.base import Base
from providers.base import CALL_TYPES, PLATFORMS, normalise_number

Scalar = str | int | bool | Decimal | date | None
Kind = Literal["text", "integer", "flag", "money", "date"]

INT_MAX = 2**31 - 1
MONEY_LIMIT = Decimal(10) ** 14  # DECIMAL(18,4)
MONEY_PLACES = 4
_PREFIX = re.compile(r"\+[1-9][0-9]{0,14}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})")


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


def iban(raw: str) -> str:
    from core.billing.bank import checked_iban

    return checked_iban(raw)


def bic(raw: str) -> str:
    from core.billing.bank import checked_bic

    return checked_bic(raw)


def vat_number(raw: str) -> str:
    from core.billing.bank import checked_vat_number

    return checked_vat_number(raw)


_MANDATE = re.compile(r"[A-Za-z0-9+?/:().,' -]{1,35}")


def mandate_id(raw: str) -> str:
    if not _MANDATE.fullmatch(raw) or not raw.strip():
        raise ValueError(f"{raw!r} is not a SEPA mandate id (1-35 letters, digits or + ? / - : ( ) . , ')")
    return raw


def reminder_days(raw: str) -> str:
    """Days after the due date for the reminder, the second reminder and the formal notice."""
    from core.billing.dunning import parse_schedule

    return ",".join(str(d) for d in parse_schedule(raw))


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
# Destination tariffs price what the customer dials: never an incoming call.
TARIFF_CALL_TYPES = tuple(t for t in CALL_TYPES if t != "voice_in")
PAYMENT_METHODS = ("transfer", "direct_debit")

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
    Column("minimum_charge", "money", ZERO),
    Column("eu_fair_use_gb", "money"),  # none: no EU fair-use limit
    Column("eu_surcharge_per_mb", "money", ZERO),
)

TARIFF: tuple[Column, ...] = (
    _text(Tariff, "prefix", required=True, convert=tariff_prefix),
    _text(Tariff, "call_type", required=True, choices=TARIFF_CALL_TYPES),
    Column("price", "money", required=True),
    Column("setup_fee", "money", ZERO),
    Column("minimum_charge", "money", ZERO),
    Column("valid_from", "date"),
)

def clock_time(raw: str) -> str:
    """ "8:00" -> "08:00"; "24:00" is the end of the day."""
    match = _CLOCK.fullmatch(raw.strip())
    if match is None or int(match[1]) > 24 or int(match[2]) > 59 or (
            int(match[1]) == 24 and int(match[2]) != 0):
        raise ValueError(f"{raw!r} is not a time of day like '08:00' (00:00 .. 24:00)")
    return f"{int(match[1]):02d}:{match[2]}"


BAND: tuple[Column, ...] = (
    _text(RatePlanBand, "name", required=True),
    _text(RatePlanBand, "start", required=True, convert=clock_time),
    _text(RatePlanBand, "end", required=True, convert=clock_time),
    Column("price_per_minute", "money"),
    Column("price_per_sms", "money"),
)

def zone_name(raw: str) -> str:
    if raw.strip().upper() in ("EU", "?") or not raw.strip():
        raise ValueError(f"{raw!r} is reserved (the EU/EEA zone is built in) or empty")
    return raw


ROAMING_ZONE: tuple[Column, ...] = (
    _text(RoamingZone, "name", required=True, convert=zone_name),
)

ROAMING: tuple[Column, ...] = (
    _text(RatePlanRoaming, "zone", required=True),
    Column("voice_out_per_min", "money", ZERO),
    Column("voice_in_per_min", "money", ZERO),
    Column("sms_per_message", "money", ZERO),
    Column("data_per_mb", "money", ZERO),
)

# A dated price change: a missing key (None) keeps the value in force before it.
PRICE: tuple[Column, ...] = (
    Column("valid_from", "date", required=True),
    Column("monthly_fee", "money"),
    Column("voice_bundle_minutes", "integer"),
    Column("sms_bundle", "integer"),
    Column("data_bundle_mb", "integer"),
    Column("price_per_minute", "money"),
    Column("price_per_sms", "money"),
    Column("price_per_mb", "money"),
    Column("setup_fee", "money"),
    Column("minimum_charge", "money"),
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
    Column("specification", "flag", False),  # the usage specification annex on its invoices
    _text(Customer, "email"),
    _text(Customer, "vat_number", convert=vat_number),
    _text(Customer, "country", default="NL", convert=country_code),
    _text(Customer, "address"),
    Column("roaming_data_cap", "money", Decimal("50")),  # 0: no bill-shock cap
    _text(Customer, "payment_method", default="transfer", choices=PAYMENT_METHODS),
    _text(Customer, "iban", convert=iban),
    _text(Customer, "bic", convert=bic),
    _text(Customer, "mandate_id", convert=mandate_id),
    Column("mandate_date", "date"),
    _text(Customer, "reminder_days", convert=reminder_days),
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
PRICES = "price"
BANDS = "band"
ROAMINGS = "roaming"
ROAMING_ZONES = "roaming_zone"
ZONE_COUNTRIES = "countries"  # an array of ISO 3166 alpha-2 codes, stored as "CH,US"
BAND_DAYS = "days"  # an array of day names, stored as "mon,tue"
SUBSCRIPTIONS = "subscription"
SYNC_PROFILES = "sync_profile"
CREDENTIALS = "credentials"
# "a/b" written as text; stored as voice_first_s (a) and voice_increment_s (b).
VOICE_INCREMENT = "voice_increment"
VOICE_INCREMENT_S = "voice_increment_s"
VOICE_FIRST_S = "voice_first_s"
