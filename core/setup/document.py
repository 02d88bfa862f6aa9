"""Parse and validate a setup file into typed specs, before anything touches the database.

Every problem is a `SetupError` whose message starts with the place in the file:
``customer[1] (ACME).subscription[0].number: 'abc' is not a phone number``.
Indexes count from 0 within their array of tables. References to partners and rate
plans are checked later, against the file and the database together (`apply`).
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from core.rating.plan import DAY_NAMES, Increment, TimeBand
from core.rating.roaming import EU_EEA
from core.setup import schema
from core.setup.schema import Column, Scalar


class SetupError(Exception):
    """The setup file cannot be applied; the message names the place and the problem."""


@dataclass(frozen=True)
class Item:
    """One table of the file: where it is, and its column values (every managed column)."""

    where: str
    values: dict[str, Scalar]

    def text(self, name: str) -> str:
        return str(self.values[name])


@dataclass(frozen=True)
class TariffSpec(Item):
    @property
    def key(self) -> tuple[str, str, date | None]:
        valid_from = self.values["valid_from"]
        return (self.text("prefix"), self.text("call_type"),
                valid_from if isinstance(valid_from, date) else None)


@dataclass(frozen=True)
class RatePlanSpec(Item):
    tariffs: tuple[TariffSpec, ...]
    prices: tuple[Item, ...] = ()  # dated price changes, by valid_from
    bands: tuple[Item, ...] = ()  # time bands, by name
    roaming: tuple[Item, ...] = ()  # prices per roaming zone, by zone name


@dataclass(frozen=True)
class SubscriptionSpec(Item):
    rate_plan: str | None


@dataclass(frozen=True)
class SyncProfileSpec(Item):
    credentials: dict[str, str] | None  # None: keep what is stored


@dataclass(frozen=True)
class CustomerSpec(Item):
    partner: str | None
    subscriptions: tuple[SubscriptionSpec, ...]
    sync_profiles: tuple[SyncProfileSpec, ...]


@dataclass(frozen=True)
class SetupSpec:
    partners: tuple[Item, ...]
    rate_plans: tuple[RatePlanSpec, ...]
    customers: tuple[CustomerSpec, ...]
    roaming_zones: tuple[Item, ...] = ()


# The TOML values an operator writes, and how each is shown back: bool before int and
# datetime before date, as each is a subclass of the other.
_VALUE_KINDS: tuple[tuple[type, str, Callable[[Any], str]], ...] = (
    (bool, "a boolean", lambda value: str(value).lower()),
    (int, "an integer", str),
    (Decimal, "a decimal number", str),
    (str, "a string", repr),
    (datetime, "a date-time", datetime.isoformat),
    (date, "a date", date.isoformat),
)


def describe(value: object) -> str:
    """A TOML value as the operator wrote it, with its type."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    for kind, name, shown in _VALUE_KINDS:
        if isinstance(value, kind):
            return f"{name} ({shown(value)})"
    return type(value).__name__


class _Table:
    """One TOML table under validation; `where` is its place in the file."""

    def __init__(self, raw: object, where: str, columns: tuple[Column, ...],
                 extra: tuple[str, ...] = ()) -> None:
        if not isinstance(raw, dict):
            raise SetupError(f"{where}: expected a table, got {describe(raw)}")
        self.raw: dict[str, Any] = raw
        self.where = where
        self.columns = columns
        known = [c.name for c in columns] + list(extra)
        for key in raw:
            if key not in known:
                raise SetupError(f"{self.at(key)}: unknown key (known keys: {', '.join(known)})")

    def at(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def values(self) -> dict[str, Scalar]:
        return {column.name: self._column(column) for column in self.columns}

    def _column(self, column: Column) -> Scalar:
        if column.name not in self.raw:
            if column.required:
                raise SetupError(f"{self.at(column.name)}: missing (required)")
            return column.default
        value = self.raw[column.name]
        where = self.at(column.name)
        if column.kind == "text":
            return _text(value, column, where)
        if column.kind == "integer":
            return _integer(value, column, where)
        if column.kind == "flag":
            if not isinstance(value, bool):
                raise SetupError(f"{where}: expected true or false, got {describe(value)}")
            return value
        if column.kind == "money":
            return _money(value, where)
        if not isinstance(value, date) or isinstance(value, datetime):
            raise SetupError(f"{where}: expected a date (2025-01-31), got {describe(value)}")
        return value

    def reference(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise SetupError(f"{self.at(key)}: expected a name, got {describe(value)}")
        _refuse_controls(value, self.at(key))
        return value

    def tables(self, key: str) -> list[object]:
        value = self.raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            place = f"{self.where.split('[')[0]}.{key}" if self.where else key
            raise SetupError(f"{self.at(key)}: expected an array of tables ([[{place}]]), "
                             f"got {describe(value)}")
        return value

    def credentials(self) -> dict[str, str] | None:
        if schema.CREDENTIALS not in self.raw:
            return None
        value = self.raw[schema.CREDENTIALS]
        where = self.at(schema.CREDENTIALS)
        if not isinstance(value, dict):
            raise SetupError(f"{where}: expected a table of strings, got {describe(value)}")
        for key, secret in value.items():
            if not isinstance(secret, str):  # never echo the value: it may be a secret
                raise SetupError(f"{where}.{key}: expected a string")
        return dict(value)


def _text(value: object, column: Column, where: str) -> str:
    if not isinstance(value, str):
        raise SetupError(f"{where}: expected a string, got {describe(value)}")
    _refuse_controls(value, where, allowed="" if column.name in ("code", "name") else "\n\t")
    if column.choices and value not in column.choices:
        raise SetupError(f"{where}: {value!r} is not one of {', '.join(column.choices)}")
    if column.convert is not None:
        try:
            value = column.convert(value)
        except ValueError as exc:
            raise SetupError(f"{where}: {exc}") from None
    if column.max_length is not None and len(value) > column.max_length:
        raise SetupError(f"{where}: longer than {column.max_length} characters")
    return value


def _refuse_controls(value: str, where: str, allowed: str = "") -> None:
    """NUL and other control characters never reach a code, a name or any other text."""
    for char in value:
        if unicodedata.category(char) == "Cc" and char not in allowed:
            raise SetupError(f"{where}: contains a control character (U+{ord(char):04X})")


def _integer(value: object, column: Column, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SetupError(f"{where}: expected an integer, got {describe(value)}")
    if not column.minimum <= value <= column.maximum:
        bound = (f"between {column.minimum} and {column.maximum}" if column.maximum < schema.INT_MAX
                 else f"at least {column.minimum}")
        raise SetupError(f"{where}: {value} is out of range (must be {bound})")
    return value


def _money(value: object, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise SetupError(f"{where}: expected an amount (12.50), got {describe(value)}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise SetupError(f"{where}: {value} is not an amount")
    if amount < 0:
        raise SetupError(f"{where}: {value} is negative (amounts must be 0 or more)")
    if amount >= schema.MONEY_LIMIT:
        raise SetupError(f"{where}: {value} is too large")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -schema.MONEY_PLACES:
        raise SetupError(f"{where}: {value} has more than {schema.MONEY_PLACES} decimals")
    return amount


def _label(kind: str, index: int, raw: object, key: str) -> str:
    name = raw.get(key) if isinstance(raw, dict) else None
    return f"{kind}[{index}] ({name})" if isinstance(name, str) and name.strip() else f"{kind}[{index}]"


def _unique(items: tuple[Item, ...], key: str, what: str) -> None:
    """Natural keys are matched without regard to case (MariaDB compares them that way)."""
    seen: dict[str, Item] = {}
    for item in items:
        folded = item.text(key).casefold()
        if folded in seen:
            raise SetupError(f"{item.where}.{key}: duplicate {what} {item.text(key)!r} "
                             f"(also at {seen[folded].where})")
        seen[folded] = item


def _scheme(table: _Table, plain_key: bool) -> tuple[int | None, int | None] | None:
    """The table's ``voice_increment = "a/b"`` as (a, b); None when the key is absent.

    ``plain_key``: the table also knows ``voice_increment_s = N``, which means "N/N";
    giving both is refused, since they could disagree.
    """
    if schema.VOICE_INCREMENT not in table.raw:
        return None
    where = table.at(schema.VOICE_INCREMENT)
    if plain_key and schema.VOICE_INCREMENT_S in table.raw:
        raise SetupError(f"{where}: give voice_increment or voice_increment_s, not both")
    value = table.raw[schema.VOICE_INCREMENT]
    if not isinstance(value, str):
        raise SetupError(f"{where}: expected a scheme like \"60/1\", got {describe(value)}")
    try:
        increment = Increment.parse(value)
    except ValueError as exc:
        raise SetupError(f"{where}: {exc}") from None
    return increment.first_s, increment.step_s


def _tariff(raw: object, where: str) -> TariffSpec:
    table = _Table(raw, where, schema.TARIFF, extra=(schema.VOICE_INCREMENT,))
    values = table.values()
    first_and_step = _scheme(table, plain_key=False)
    if first_and_step is not None and values["call_type"] != "voice":
        raise SetupError(f"{table.at(schema.VOICE_INCREMENT)}: only voice tariffs have an "
                         "increment scheme")
    values[schema.VOICE_FIRST_S], values[schema.VOICE_INCREMENT_S] = first_and_step or (None, None)
    return TariffSpec(where, values)


def _rate_plan(raw: object, where: str) -> RatePlanSpec:
    table = _Table(raw, where, schema.RATE_PLAN,
                   extra=(schema.TARIFFS, schema.PRICES, schema.BANDS, schema.ROAMINGS,
                          schema.VOICE_INCREMENT))
    values = table.values()
    first, step = _scheme(table, plain_key=True) or (None, values[schema.VOICE_INCREMENT_S])
    # "N/N" is stored as the plain increment, so both spellings are the same plan.
    values[schema.VOICE_FIRST_S] = None if first == step else first
    values[schema.VOICE_INCREMENT_S] = step
    tariffs = tuple(_tariff(t, f"{where}.{schema.TARIFFS}[{i}]")
                    for i, t in enumerate(table.tables(schema.TARIFFS)))
    seen: dict[tuple[str, str, date | None], TariffSpec] = {}
    for tariff in tariffs:
        if tariff.key in seen:
            prefix, call_type, valid_from = tariff.key
            since = f" from {valid_from}" if valid_from else ""
            raise SetupError(f"{tariff.where}: duplicate tariff {prefix} {call_type}{since} "
                             f"(also at {seen[tariff.key].where})")
        seen[tariff.key] = tariff
    prices = tuple(_price(p, f"{where}.{schema.PRICES}[{i}]")
                   for i, p in enumerate(table.tables(schema.PRICES)))
    dates: dict[object, Item] = {}
    for price in prices:
        day = price.values["valid_from"]
        if day in dates:
            raise SetupError(f"{price.where}.valid_from: a second price change from {day} "
                             f"(also at {dates[day].where})")
        dates[day] = price
    bands = tuple(_band(b, f"{where}.{schema.BANDS}[{i}]")
                  for i, b in enumerate(table.tables(schema.BANDS)))
    _unique(bands, "name", "band")
    checked: list[tuple[Item, TimeBand]] = []
    for item in bands:
        band = to_band(item.values)
        for other_item, other in checked:
            if band.overlaps(other):
                raise SetupError(f"{item.where}: overlaps band {other.name!r} "
                                 f"({other_item.where}); a call must fall in one band at most")
        checked.append((item, band))
    roaming = tuple(_roaming(r, f"{where}.{schema.ROAMINGS}[{i}]")
                    for i, r in enumerate(table.tables(schema.ROAMINGS)))
    _unique(roaming, "zone", "roaming zone")
    return RatePlanSpec(where, values, tariffs, prices, bands, roaming)


def _roaming(raw: object, where: str) -> Item:
    table = _Table(raw, where, schema.ROAMING, extra=(schema.VOICE_INCREMENT,))
    values = table.values()
    first, step = _scheme(table, plain_key=False) or (60, 60)
    values[schema.VOICE_FIRST_S] = None if first == step else first
    values[schema.VOICE_INCREMENT_S] = step
    return Item(where, values)


def _roaming_zone(raw: object, where: str) -> Item:
    table = _Table(raw, where, schema.ROAMING_ZONE, extra=(schema.ZONE_COUNTRIES,))
    values = table.values()
    at = table.at(schema.ZONE_COUNTRIES)
    countries = table.raw.get(schema.ZONE_COUNTRIES)
    if not isinstance(countries, list) or not countries:
        raise SetupError(f"{at}: expected an array of country codes ([\"CH\", \"US\"]), "
                         f"got {describe(countries)}")
    for code in countries:
        if not isinstance(code, str) or len(code) != 2 or not code.isascii() or not code.isupper():
            raise SetupError(f"{at}: {code!r} is not a two-letter country code in capitals")
        if code in EU_EEA:
            raise SetupError(f"{at}: {code} is in the built-in EU/EEA zone (roam like at home)")
    values[schema.ZONE_COUNTRIES] = ",".join(sorted(set(countries)))
    return Item(where, values)


_DAY_SETS = {"weekdays": DAY_NAMES[:5], "weekend": DAY_NAMES[5:], "daily": DAY_NAMES}


def _band(raw: object, where: str) -> Item:
    table = _Table(raw, where, schema.BAND, extra=(schema.BAND_DAYS,))
    values = table.values()
    at = table.at(schema.BAND_DAYS)
    if schema.BAND_DAYS not in table.raw:
        raise SetupError(f"{at}: missing (required)")
    days = table.raw[schema.BAND_DAYS]
    if isinstance(days, str) and days in _DAY_SETS:
        names: list[object] = list(_DAY_SETS[days])
    elif isinstance(days, list) and days:
        names = days
    else:
        raise SetupError(f"{at}: expected \"weekdays\", \"weekend\", \"daily\" or an array of "
                         f"day names ({', '.join(DAY_NAMES)}), got {describe(days)}")
    for name in names:
        if name not in DAY_NAMES:
            raise SetupError(f"{at}: {name!r} is not a day name ({', '.join(DAY_NAMES)})")
    values[schema.BAND_DAYS] = ",".join(d for d in DAY_NAMES if d in names)
    if str(values["start"]) >= str(values["end"]):
        raise SetupError(f"{table.at('end')}: {values['end']} is not after start {values['start']}")
    return Item(where, values)


def to_band(values: Mapping[str, object]) -> TimeBand:
    """The engine's band for a band's setup values."""
    def price(key: str) -> Decimal | None:
        value = values[key]
        return value if isinstance(value, Decimal) else None

    return TimeBand.written(str(values["name"]), str(values[schema.BAND_DAYS]),
                            str(values["start"]), str(values["end"]),
                            price("price_per_minute"), price("price_per_sms"))


def _price(raw: object, where: str) -> Item:
    table = _Table(raw, where, schema.PRICE, extra=(schema.VOICE_INCREMENT,))
    values = table.values()
    first_and_step = _scheme(table, plain_key=False)
    values[schema.VOICE_FIRST_S], values[schema.VOICE_INCREMENT_S] = first_and_step or (None, None)
    if all(v is None for k, v in values.items() if k != "valid_from"):
        raise SetupError(f"{where}: a price change sets no price (give at least one key "
                         "besides valid_from)")
    return Item(where, values)


def _subscription(raw: object, where: str) -> SubscriptionSpec:
    table = _Table(raw, where, schema.SUBSCRIPTION, extra=(schema.RATE_PLAN_REF,))
    values = table.values()
    start, end = values["start_date"], values["end_date"]
    if isinstance(start, date) and isinstance(end, date) and end < start:
        raise SetupError(f"{table.at('end_date')}: {end} is before start_date {start}")
    return SubscriptionSpec(where, values, table.reference(schema.RATE_PLAN_REF))


def _sync_profile(raw: object, where: str) -> SyncProfileSpec:
    table = _Table(raw, where, schema.SYNC_PROFILE, extra=(schema.CREDENTIALS,))
    return SyncProfileSpec(where, table.values(), table.credentials())


def _payment_data(table: _Table, values: dict[str, Scalar]) -> None:
    """A direct-debit customer needs an IBAN and a signed mandate; the BIC follows from the IBAN."""
    if values["payment_method"] == "direct_debit":
        for key in ("iban", "mandate_id", "mandate_date"):
            if values[key] is None:
                raise SetupError(f"{table.at(key)}: missing (required for payment_method = \"direct_debit\")")
    mandate_date = values["mandate_date"]
    if isinstance(mandate_date, date) and mandate_date > date(2100, 1, 1):
        raise SetupError(f"{table.at('mandate_date')}: {mandate_date} is not a plausible signature date")
    if values["iban"] is not None and values["bic"] is None:
        from core.billing.bank import bic_for

        values["bic"] = bic_for(str(values["iban"]))


def _customer(raw: object, where: str) -> CustomerSpec:
    table = _Table(raw, where, schema.CUSTOMER,
                   extra=(schema.PARTNER_REF, schema.SUBSCRIPTIONS, schema.SYNC_PROFILES))
    values = table.values()
    _payment_data(table, values)
    subscriptions = tuple(_subscription(s, f"{where}.{schema.SUBSCRIPTIONS}[{i}]")
                          for i, s in enumerate(table.tables(schema.SUBSCRIPTIONS)))
    profiles = tuple(_sync_profile(p, f"{where}.{schema.SYNC_PROFILES}[{i}]")
                     for i, p in enumerate(table.tables(schema.SYNC_PROFILES)))
    return CustomerSpec(where, values, table.reference(schema.PARTNER_REF), subscriptions, profiles)


def parse_setup(text: str) -> SetupSpec:
    """The validated setup described by `text`; raises SetupError at the first problem."""
    try:
        document: Mapping[str, Any] = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise SetupError(f"not valid TOML: {exc}") from None
    root = _Table(document, "", (), extra=("partner", schema.ROAMING_ZONES, "rate_plan", "customer"))

    def items(kind: str) -> list[tuple[str, object]]:
        raws = root.tables(kind)
        key = "code" if kind == "customer" else "name"
        return [(_label(kind, i, raw, key), raw) for i, raw in enumerate(raws)]

    partners = tuple(Item(where, _Table(raw, where, schema.PARTNER).values())
                     for where, raw in items("partner"))
    zones = tuple(_roaming_zone(raw, where) for where, raw in items(schema.ROAMING_ZONES))
    _unique(zones, "name", "roaming zone")
    in_zone: dict[str, Item] = {}
    for zone in zones:
        for code in zone.text(schema.ZONE_COUNTRIES).split(","):
            if code in in_zone:
                raise SetupError(f"{zone.where}.{schema.ZONE_COUNTRIES}: {code} is also in "
                                 f"{in_zone[code].where}; a country is in one zone")
            in_zone[code] = zone
    rate_plans = tuple(_rate_plan(raw, where) for where, raw in items("rate_plan"))
    customers = tuple(_customer(raw, where) for where, raw in items("customer"))

    _unique(partners, "name", "partner")
    _unique(rate_plans, "name", "rate plan")
    _unique(customers, "code", "customer code")
    _unique(tuple(s for c in customers for s in c.subscriptions), "number", "subscription number")
    _unique(tuple(p for c in customers for p in c.sync_profiles), "name", "sync profile")
    return SetupSpec(partners, rate_plans, customers, zones)
