"""Excel exports in openpyxl's write-only mode: rows stream to disk, memory stays flat.

Every sheet has a bold, frozen header row with an autofilter, and typed cells:
money as numbers with a euro format (2 decimals for totals, 4 per CDR),
durations as Excel times ("[h]:mm:ss"), dates as dates. Values go in as
Decimal and int; the file stores them as Excel numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.billing.i18n import call_type_label, t, zone_label
from core.billing.lines import UsageTotal
from core.billing.specification import SpecificationLine

if TYPE_CHECKING:
    from core.exports.workbook import Book, Sheet

MONEY_FORMAT = '#,##0.00 "€"'
MONEY4_FORMAT = '#,##0.0000 "€"'
DURATION_FORMAT = "[h]:mm:ss"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"
INTEGER_FORMAT = "#,##0"
PROGRESS_EVERY = 10_000

Progress = Callable[[int], None]

# The call types with a sheet and a label of their own, in sheet order; others follow by name.
CALL_TYPES: tuple[str, ...] = ("voice", "voice_in", "sms", "data")
_TIMED = frozenset({"voice", "voice_in"})  # no volume column
_UNTIMED = frozenset({"sms", "data"})  # no duration column


@dataclass(frozen=True)
class Column:
    """A column of a sheet: its title, Excel number format and width (characters)."""

    title: str
    number_format: str | None = None
    width: float | None = None


@dataclass(frozen=True)
class ExportCdr:
    number: str
    call_date: datetime
    call_type: str
    destination: str
    duration_s: int
    volume_kb: int
    provider_cost: Decimal
    rated_amount: Decimal
    cost_centre: str | None


def seconds_as_days(seconds: int) -> float:
    """A duration in seconds as the fraction of a day that Excel's time formats expect."""
    return seconds / 86400


_LABELS: dict[str, tuple[str, str]] = {
    # key: (nl, en)
    "number": ("Nummer", "Number"),
    "call_date": ("Datum", "Date"),
    "destination": ("Bestemming", "Destination"),
    "duration": ("Duur", "Duration"),
    "volume_kb": ("Volume (KB)", "Volume (KB)"),
    "provider_cost": ("Inkoop", "Provider cost"),
    "rated_amount": ("Bedrag", "Amount"),
    "cost_centre": ("Kostenplaats", "Cost centre"),
    "subscription": ("Abonnement", "Subscription"),
    "call_type": ("Type", "Type"),
    "count": ("Aantal", "Count"),
    "totals": ("Totalen", "Totals"),
    "total": ("Totaal", "Total"),
    "voice": ("Bellen", "Voice"),
    "voice_in": ("Inkomend", "Incoming"),
    "sms": ("Sms", "SMS"),
    "data": ("Data", "Data"),
}


def _label(key: str, language: str) -> str:
    if language not in ("nl", "en"):
        raise ValueError(f"unsupported language {language!r}; use nl or en")
    return _LABELS[key][0 if language == "nl" else 1]


def write_customer_excel(
    path: Path,
    *,
    title: str,
    cdrs: Iterable[ExportCdr],
    totals: Iterable[UsageTotal],
    progress: Progress | None = None,
    language: str = "nl",
    specification: Sequence[SpecificationLine] = (),
) -> int:
    """Write a customer's CDRs (one sheet per call type) and totals; returns CDR rows written.

    CDRs may come in any order: each call type's sheet is created on its first
    CDR and rows keep their input order within a sheet, so pass them ordered by
    call date. The Totals sheet comes first, then the usage specification (when
    given), then voice, incoming calls, sms, data, others.
    """
    from core.exports.workbook import Book  # openpyxl loads when an export runs, not at start-up

    with Book(path, title) as book:
        totals_sheet = book.sheet(
            _label("totals", language), _totals_columns(language), heading=title
        )
        sheets: dict[str, Sheet] = {}
        written = 0
        for cdr in cdrs:
            sheet = sheets.get(cdr.call_type)
            if sheet is None:
                name = _label(cdr.call_type, language) if cdr.call_type in CALL_TYPES else None
                sheet = book.sheet(name or cdr.call_type, _cdr_columns(cdr.call_type, language))
                sheets[cdr.call_type] = sheet
            sheet.append(_cdr_values(cdr))
            written += 1
            if progress is not None and written % PROGRESS_EVERY == 0:
                progress(written)
        _write_totals(totals_sheet, totals, language)
        firsts = [totals_sheet.title]
        if specification:
            firsts.append(_write_specification(book, specification, language))
        order = firsts + [
            sheets[call_type].title for call_type in _call_type_order(sheets)
        ]
        book.order(order)
    if progress is not None:
        progress(written)
    return written


def write_rows_excel(
    path: Path,
    sheets: Mapping[str, tuple[Sequence[str | Column], Iterable[Sequence[object]]]],
    *,
    title: str | None = None,
    progress: Progress | None = None,
) -> int:
    """Write one sheet per entry, {sheet name: (columns, rows)}, in order; returns data rows.

    A column given as a plain title gets no number format: Decimal, int and date
    values still land as numbers and dates. Durations: pass `seconds_as_days(s)`
    in a column with DURATION_FORMAT.
    """
    from core.exports.workbook import Book

    written = 0
    with Book(path, title) as book:
        for name, (headers, rows) in sheets.items():
            columns = [
                header if isinstance(header, Column) else Column(header) for header in headers
            ]
            sheet = book.sheet(name, columns)
            for row in rows:
                sheet.append(row)
                written += 1
                if progress is not None and written % PROGRESS_EVERY == 0:
                    progress(written)
    if progress is not None:
        progress(written)
    return written


# -- the customer workbook ---------------------------------------------------------------


def _cdr_columns(call_type: str, language: str) -> list[Column]:
    columns = [
        Column(_label("number", language), width=16),
        Column(_label("call_date", language), DATETIME_FORMAT, width=20),
        Column(_label("destination", language), width=24),
    ]
    if call_type not in _UNTIMED:
        columns.append(Column(_label("duration", language), DURATION_FORMAT, width=11))
    if call_type not in _TIMED and call_type != "sms":
        columns.append(Column(_label("volume_kb", language), INTEGER_FORMAT, width=13))
    columns += [
        Column(_label("provider_cost", language), MONEY4_FORMAT, width=14),
        Column(_label("rated_amount", language), MONEY4_FORMAT, width=14),
        Column(_label("cost_centre", language), width=18),
    ]
    return columns


def _cdr_values(cdr: ExportCdr) -> list[object]:
    values: list[object] = [cdr.number, cdr.call_date, cdr.destination]
    if cdr.call_type not in _UNTIMED:
        values.append(seconds_as_days(cdr.duration_s))
    if cdr.call_type not in _TIMED and cdr.call_type != "sms":
        values.append(cdr.volume_kb)
    values += [cdr.provider_cost, cdr.rated_amount, cdr.cost_centre]
    return values


def _totals_columns(language: str) -> list[Column]:
    return [
        Column(_label("subscription", language), width=18),
        Column(_label("call_type", language), width=10),
        Column(_label("count", language), INTEGER_FORMAT, width=10),
        Column(_label("duration", language), DURATION_FORMAT, width=12),
        Column(_label("volume_kb", language), INTEGER_FORMAT, width=14),
        Column(_label("rated_amount", language), MONEY_FORMAT, width=14),
    ]


def _write_totals(sheet: Sheet, totals: Iterable[UsageTotal], language: str) -> None:
    sums: dict[str, list[Any]] = defaultdict(lambda: [0, 0, 0, Decimal("0")])
    for total in totals:
        sheet.append(
            [
                total.subscription_number,
                total.call_type,
                total.count,
                seconds_as_days(total.duration_s),
                total.volume_kb,
                total.rated_amount,
            ]
        )
        running = sums[total.call_type]
        running[0] += total.count
        running[1] += total.duration_s
        running[2] += total.volume_kb
        running[3] += total.rated_amount
    # The summary sits below the autofilter range, so sorting the details leaves it alone.
    sheet.end_filter()
    sheet.append([])
    grand = Decimal("0")
    for call_type in _call_type_order(sums):
        count, seconds, kilobytes, amount = sums[call_type]
        label = _label(call_type, language) if call_type in CALL_TYPES else call_type
        sheet.append(
            [f"{_label('total', language)} {label.lower()}", call_type, count,
             seconds_as_days(seconds), kilobytes, amount],
            bold=True,
        )  # fmt: skip
        grand += amount
    sheet.append([_label("total", language), None, None, None, None, grand], bold=True)


def _write_specification(book: Book, rows: Sequence[SpecificationLine], language: str) -> str:
    """The usage specification sheet (as the invoice's annex); returns its title."""
    columns = [Column(t("spec_number", language), width=16), Column(t("spec_cost_centre", language), width=18),
               Column(t("spec_call_type", language), width=12), Column(t("spec_zone", language), width=10),
               Column(t("spec_count", language), INTEGER_FORMAT, width=9),
               Column(t("spec_usage", language), "#,##0.00", width=11), Column(t("unit", language), width=8),
               Column(t("spec_in_bundle", language), "#,##0.00", width=11),
               Column(t("spec_beyond", language), "#,##0.00", width=13),
               Column(t("amount", language), MONEY_FORMAT, width=12)]
    sheet = book.sheet(t("specification", language)[:31], columns)
    for row in rows:
        sheet.append([row.subscription_number, row.cost_centre, call_type_label(row.call_type, language),
                      zone_label(row.zone, language), row.count, row.usage, row.unit, row.in_bundle, row.beyond, row.amount])
    sheet.end_filter()
    sheet.append([])
    sheet.append([t("spec_total", language), None, None, None, None, None, None, None, None,
                  sum((row.amount for row in rows), Decimal("0.00"))], bold=True)
    return str(sheet.title)


def _call_type_order(call_types: Iterable[str]) -> list[str]:
    known = [call_type for call_type in CALL_TYPES if call_type in call_types]
    return known + sorted(set(call_types) - set(CALL_TYPES))
