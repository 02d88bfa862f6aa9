"""How a platform spells values, and the conversions between its rows and our records.

A row arrives as a mapping of our field names to the provider's raw values
(strings from CSV, typed values from JSON). `decode_*` turn it into records or
raise `RowError` with a reason in words; `encode_*` do the reverse for the
sandbox, so both sides read the same description of the wire.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal, NamedTuple, overload
from zoneinfo import ZoneInfo

from providers.base import (
    CALL_TYPES,
    BadRow,
    Checkpoint,
    InvoiceTotal,
    ProviderCdr,
    ProviderSubscription,
)
from providers.numbers import normalise_destination, normalise_number

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

CDR_FIELDS: tuple[str, ...] = (
    "provider_ref",
    "number",
    "call_date",
    "call_type",
    "destination",
    "duration_s",
    "volume_kb",
    "provider_cost",
    "roaming",
    "visited_country",
)
SUBSCRIPTION_FIELDS: tuple[str, ...] = (
    "number",
    "customer_ref",
    "sim",
    "imei",
    "device_model",
    "start_date",
    "end_date",
    "portation_date",
    "plan_code",
)
INVOICE_FIELDS: tuple[str, ...] = ("amount", "cdr_count", "currency")

_AMOUNT_DOT = re.compile(r"-?\d+(\.\d+)?")
_AMOUNT_COMMA = re.compile(r"-?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?")
_DUTCH_DATETIME = re.compile(r"(\d\d)-(\d\d)-(\d{4}) (\d\d):(\d\d)(?::(\d\d))?")
_DUTCH_DATE = re.compile(r"(\d\d)-(\d\d)-(\d{4})")
_TRUE = frozenset({"1", "true", "yes", "y", "j", "ja"})
_FALSE = frozenset({"0", "false", "no", "n", "nee", ""})


class RowError(ValueError):
    """One row cannot be read; the message is the quarantine reason."""


def _show(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


@dataclass(frozen=True)
class Wire:
    """The value conventions of one platform: decimals, dates, call types, booleans."""

    decimal_comma: bool = False
    dutch_dates: bool = False  # "dd-mm-yyyy HH:MM:SS", Amsterdam local time
    call_types: Mapping[str, str] = field(
        default_factory=lambda: {name: name for name in CALL_TYPES}
    )  # our call type -> the provider's word
    true_false: tuple[str, str] = ("true", "false")
    _call_type_of: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        decoded = {word.lower(): ours for ours, word in self.call_types.items()}
        object.__setattr__(self, "_call_type_of", decoded)

    # -- reading ---------------------------------------------------------------

    def parse_call_type(self, value: object) -> str:
        found = self._call_type_of.get(str(value).strip().lower())
        if found is None:
            raise RowError(f"unknown call type {_show(value)}")
        return found

    def parse_amount(self, value: object, what: str = "amount") -> Decimal:
        if isinstance(value, Decimal):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return Decimal(value)
        text = str(value).strip()
        if self.decimal_comma:
            if not _AMOUNT_COMMA.fullmatch(text):
                raise RowError(f"bad {what} {_show(value)}")
            text = text.replace(".", "").replace(",", ".")
        elif not _AMOUNT_DOT.fullmatch(text):
            raise RowError(f"bad {what} {_show(value)}")
        try:
            return Decimal(text)
        except InvalidOperation:
            raise RowError(f"bad {what} {_show(value)}") from None

    def parse_datetime(self, value: object) -> datetime:
        text = str(value).strip()
        try:
            if self.dutch_dates:
                match = _DUTCH_DATETIME.fullmatch(text)
                if match is None:
                    raise ValueError(text)
                day, month, year, hour, minute, second = match.groups()
                return datetime(
                    int(year),
                    int(month),
                    int(day),
                    int(hour),
                    int(minute),
                    int(second or 0),
                    tzinfo=AMSTERDAM,
                )
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise RowError(f"bad date {_show(value)}") from None
        if moment.tzinfo is None:
            raise RowError(f"bad date {_show(value)}: no UTC offset")
        return moment

    def parse_date(self, value: object) -> date | None:
        text = "" if value is None else str(value).strip()
        if not text:
            return None
        try:
            if self.dutch_dates:
                match = _DUTCH_DATE.fullmatch(text)
                if match is None:
                    raise ValueError(text)
                day, month, year = match.groups()
                return date(int(year), int(month), int(day))
            return date.fromisoformat(text)
        except ValueError:
            raise RowError(f"bad date {_show(value)}") from None

    def parse_bool(self, value: object) -> bool:
        if isinstance(value, bool):
            return value
        text = "" if value is None else str(value).strip().lower()
        if text in _TRUE or text == self.true_false[0].lower():
            return True
        if text in _FALSE or text == self.true_false[1].lower():
            return False
        raise RowError(f"bad yes/no value {_show(value)}")

    # -- writing (the sandbox) ------------------------------------------------

    def format_amount(self, amount: Decimal) -> str:
        text = str(amount)
        return text.replace(".", ",") if self.decimal_comma else text

    def format_datetime(self, moment: datetime) -> str:
        if self.dutch_dates:
            return moment.astimezone(AMSTERDAM).strftime("%d-%m-%Y %H:%M:%S")
        return moment.isoformat()

    def format_date(self, day: date | None) -> str | None:
        if day is None:
            return None
        return day.strftime("%d-%m-%Y") if self.dutch_dates else day.isoformat()


def _count(value: object, what: str) -> int:
    if type(value) is str and value.isdigit() and value.isascii():
        return int(value)  # the common case, fast
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = "" if value is None else str(value).strip()
        digits = text[1:] if text.startswith("-") else text
        if not digits.isascii() or not digits.isdigit():
            raise RowError(f"bad {what} {_show(value)}")
        number = int(text)
    if number < 0:
        raise RowError(f"negative {what} {number}")
    return number


def _text(row: Mapping[str, object], name: str) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _required(row: Mapping[str, object], name: str) -> object:
    value = row.get(name)
    if value is None or value == "":
        raise RowError(f"missing {name}")
    return value


def decode_cdr(row: Mapping[str, object], wire: Wire, line: int = 0) -> ProviderCdr:
    """A CDR from a row keyed by our field names; RowError says what is wrong."""
    get = row.get  # this runs for every CDR of every month: kept lean
    provider_ref, number, cost = get("provider_ref"), get("number"), get("provider_cost")
    if not provider_ref:
        raise RowError("missing provider_ref")
    if not number:
        raise RowError("missing number")
    if cost is None or cost == "":
        raise RowError("missing provider_cost")
    try:
        e164 = normalise_number(str(number))
    except ValueError:
        raise RowError(f"bad number {_show(number)}") from None
    roaming = get("roaming")
    destination = get("destination")
    return ProviderCdr(
        provider_ref=str(provider_ref).strip(),
        number=e164,
        call_date=wire.parse_datetime(_required(row, "call_date")),
        call_type=wire.parse_call_type(_required(row, "call_type")),
        destination=normalise_destination(str(destination)) if destination else "",
        duration_s=_count(get("duration_s"), "duration"),
        volume_kb=_count(get("volume_kb"), "volume"),
        provider_cost=wire.parse_amount(cost),
        roaming=False if roaming is None else wire.parse_bool(roaming),
        visited_country=_country(get("visited_country")),
        line=line,
    )


def _country(value: object) -> str:
    """An ISO 3166 alpha-2 code ("ch" -> "CH"), or "" when the platform gives none."""
    text = "" if value is None else str(value).strip().upper()
    if text and not (len(text) == 2 and text.isascii() and text.isalpha()):
        raise RowError(f"bad visited_country {_show(value)} (two letters, e.g. CH)")
    return text


def decode_subscription(
    row: Mapping[str, object], wire: Wire, default_customer_ref: str
) -> ProviderSubscription:
    """A subscription from a row keyed by our field names."""
    number = str(_required(row, "number"))
    try:
        e164 = normalise_number(number)
    except ValueError:
        raise RowError(f"bad number {_show(number)}") from None
    return ProviderSubscription(
        number=e164,
        customer_ref=_text(row, "customer_ref") or default_customer_ref,
        sim=_text(row, "sim"),
        imei=_text(row, "imei"),
        device_model=_text(row, "device_model"),
        start_date=wire.parse_date(row.get("start_date")),
        end_date=wire.parse_date(row.get("end_date")),
        portation_date=wire.parse_date(row.get("portation_date")),
        plan_code=_text(row, "plan_code"),
    )


def decode_invoice(row: Mapping[str, object], wire: Wire) -> InvoiceTotal:
    """An invoice total; `cdr_count` stays None where the platform does not report it."""
    count = row.get("cdr_count")
    return InvoiceTotal(
        amount=wire.parse_amount(_required(row, "amount")),
        cdr_count=None if count is None else _count(count, "CDR count"),
        currency=_text(row, "currency") or "EUR",
    )


def encode_cdr(cdr: ProviderCdr, wire: Wire) -> dict[str, object]:
    """The sandbox's side: a CDR as the platform writes it (JSON-ready values)."""
    return {
        "provider_ref": cdr.provider_ref,
        "number": cdr.number,
        "call_date": wire.format_datetime(cdr.call_date),
        "call_type": wire.call_types[cdr.call_type],
        "destination": cdr.destination,
        "duration_s": cdr.duration_s,
        "volume_kb": cdr.volume_kb,
        "provider_cost": wire.format_amount(cdr.provider_cost),
        "roaming": cdr.roaming,
        "visited_country": cdr.visited_country,
    }


def encode_subscription(subscription: ProviderSubscription, wire: Wire) -> dict[str, object]:
    return {
        "number": subscription.number,
        "customer_ref": subscription.customer_ref,
        "sim": subscription.sim,
        "imei": subscription.imei,
        "device_model": subscription.device_model,
        "start_date": wire.format_date(subscription.start_date),
        "end_date": wire.format_date(subscription.end_date),
        "portation_date": wire.format_date(subscription.portation_date),
        "plan_code": subscription.plan_code,
    }


def encode_invoice(total: InvoiceTotal, wire: Wire) -> dict[str, object]:
    return {
        "amount": wire.format_amount(total.amount),
        "cdr_count": total.cdr_count,
        "currency": total.currency,
    }


class RawRow(NamedTuple):
    """One provider row before decoding: our field names to raw values, or an error."""

    line: int
    values: Mapping[str, object] | None
    source: object  # the CSV line or the JSON record, for the quarantine
    error: str | None = None

    @property
    def raw(self) -> str:
        if isinstance(self.source, str):
            return self.source
        return json.dumps(self.source, default=str, ensure_ascii=False)


@overload
def cdrs_from_rows(rows: Iterable[RawRow | Checkpoint], wire: Wire,
                   checkpoints: Literal[False] = False) -> Iterator[ProviderCdr | BadRow]: ...


@overload
def cdrs_from_rows(rows: Iterable[RawRow | Checkpoint], wire: Wire,
                   checkpoints: bool) -> Iterator[ProviderCdr | BadRow | Checkpoint]: ...


def cdrs_from_rows(rows: Iterable[RawRow | Checkpoint], wire: Wire,
                   checkpoints: bool = False) -> Iterator[ProviderCdr | BadRow | Checkpoint]:
    """Decode rows into CDRs; a row that cannot be read becomes a BadRow."""
    for row in rows:
        if isinstance(row, Checkpoint):
            if checkpoints:
                yield row
            continue
        yield decode_row(row, wire)


def decode_row(row: RawRow, wire: Wire) -> ProviderCdr | BadRow:
    """One row's CDR, or the BadRow saying why it cannot be read."""
    if row.values is None:
        return BadRow(row.line, row.error or "unreadable row", row.raw)
    try:
        return decode_cdr(row.values, wire, row.line)
    except RowError as error:
        return BadRow(row.line, str(error), row.raw)
    except Exception as error:  # noqa: BLE001 - one row's value never fails the stream
        return BadRow(row.line, f"unreadable row: {type(error).__name__}: {error}", _safe_raw(row))


def _safe_raw(row: RawRow) -> str:
    try:
        return row.raw
    except Exception:  # noqa: BLE001 - the quarantine still gets something to show
        return repr(row.source)


def call_type_spellings(wire: Wire) -> dict[str, str]:
    """The provider's call type words as they usually appear, to our call types: what
    `parse_call_type` gives for each, so an exact lookup agrees with it (others: ask it)."""
    found: dict[str, str] = {}
    for word in wire.call_types.values():
        for spelling in (word, word.lower(), word.upper()):
            found[spelling] = wire.parse_call_type(spelling)
    return found


def bool_spellings(wire: Wire) -> dict[str, bool]:
    """Yes/no values as they usually appear, to what `parse_bool` makes of them."""
    words = {*_TRUE, *_FALSE, *wire.true_false}
    found: dict[str, bool] = {}
    for word in words:
        for spelling in (word, word.lower(), word.upper(), word.title()):
            try:
                found[spelling] = wire.parse_bool(spelling)
            except RowError:
                continue
    return found
