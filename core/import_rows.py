"""The CSV import's fast path: lines to insert tuples, without a dict or a record per row.

The general path (`ImportRun.take` in core/imports.py) turns each line into a dict and a
ProviderCdr, checks it (core/cdr_checks.py), links it and builds its row. Here a line
whose every value is already in the form that path would store unchanged is read by
position, checked against the same ranges and turned into the same row in one pass.
Any other line (a control character, a value to normalise, a range it misses, an
unknown number, a date to convert) is handed to the general path, which decides and
words the reason: both store the same rows and quarantine the same lines with the same
reasons (tests/test_import_fastpath.py checks it on random and hostile input).

A provider's CSV body (a sync) comes the same way, straight from the network stream
(providers/listing.py, CsvPages); its chunks are committed before the stream is read on
(tests/test_sync_fastpath.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import chain
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable
from zoneinfo import ZoneInfo

from core.cdr_checks import CALL_TYPES, COST_COLUMN_MAX, INT_COLUMN_MAX
from core.cdr_store import Source
from core.month import CustomerCycle
from core.rating.cycles import cycle_for
from core.raw_store import column_values
from providers.base import BadRow, Checkpoint, ProviderCdr, normalise_destination, normalise_number

if TYPE_CHECKING:
    from core.imports import ImportRun, SubscriptionIndex

# Rows held before they are written. A fast row is small (a tuple and its line's text, about
# 0.7 kB with the allocator's share: 60,000 rows are some 40 MB), so a large chunk is held and
# written in one statement, sorted by call date (core/cdr_store.py): the date indexes are then
# walked in order once per chunk instead of at random once per row. A batch (the commit,
# ImportRun.batch_size: 120,000 by default) holds two such chunks.
FAST_CHUNK_ROWS = 60_000

CACHE_LIMIT = 65_536  # distinct numbers or destinations remembered per import (then forgotten, not grown)

K = TypeVar("K")
V = TypeVar("V")


class _Memo(dict[K, V]):
    """`compute(key)` remembered per key, None and False included; at CACHE_LIMIT keys it forgets
    them all rather than grow. A hit is a plain dict subscript: no Python call per row."""

    def __init__(self, compute: Callable[[K], V]) -> None:
        super().__init__()
        self.compute = compute

    def __missing__(self, key: K) -> V:
        if len(self) >= CACHE_LIMIT:
            self.clear()
        value = self[key] = self.compute(key)
        return value


PLAIN_STAMPS = frozenset({"--T::+:", "--T::-:"})  # "YYYY-MM-DDTHH:MM:SS+HH:MM" at every third character

SCALE = (10_000, 1_000, 100, 10, 1)  # ten-thousandths per unit of the last digit, by decimals given


class _General(Exception):
    """This line is for the general path."""


# (e164, subscription id, customer id, the customer's zone and billing day, first and last day, and
# the zone's local day per UTC hour "YYYY-MM-DDTHH": see _hour_day)
_Number = tuple[str, int, int, ZoneInfo, int, date | None, date | None, dict[str, date | None]]


@runtime_checkable
class PositionalCdrs(Protocol):
    """A CSV source the import can read by position (providers.csvformat.CsvCdrs; core reaches
    providers only through providers.base, so it is known by what it offers)."""

    required_columns: tuple[str, ...]  # our names of the columns a plain row has, in this order
    wire: Any  # decimal_comma, dutch_dates
    lines: Any  # (line, fields, text), a RawRow or a Checkpoint per item; .picks, .required after the header
    local: bool  # a file on this machine (not a provider's server): reading on waits on nothing

    def __iter__(self) -> Iterator[ProviderCdr | BadRow | Checkpoint]:
        """The records decoded the general way (for a format without a fast path)."""
        ...

    def decode(self, item: Any) -> ProviderCdr | BadRow | Checkpoint: ...

    def decode_text(self, line_number: int, text: str) -> ProviderCdr | BadRow: ...

    def call_type_spellings(self) -> dict[str, str]: ...

    def bool_spellings(self) -> dict[str, bool]: ...

    def tapped(self, tap: Callable[[Iterator[Any]], Iterator[Any]]) -> PositionalCdrs:
        """The same source with its lines read through `tap`, which passes every item on."""
        ...


def fast_csv_import(run: ImportRun, cdrs: PositionalCdrs) -> bool:
    """Take every line of `cdrs` into `run`; False (nothing read) when its format has no fast path."""
    wire, lines = cdrs.wire, cdrs.lines
    if wire.dutch_dates or not set(cdrs.required_columns) <= set(lines.required):
        return False

    def resolve(sources: list[tuple[int, Any]]) -> list[Source]:
        """The records of a batch that is not all new; a fast row kept only its line's text (memory)."""
        resolved: list[Source] = []
        for line, record in sources:
            if type(record) is str:
                record = cdrs.decode_text(line, record)
                if not isinstance(record, ProviderCdr):  # the fast path accepted what the general one refuses
                    raise AssertionError(f"line {line}: the CSV fast path and the general path disagree")
            resolved.append((line, record))
        return resolved

    run.resolve = resolve
    mysql = run.writer.mysql
    to_column = column_values(mysql)[0]
    decimal_sep = "," if wire.decimal_comma else "."
    call_types = {word: ours for word, ours in cdrs.call_type_spellings().items() if ours in CALL_TYPES}
    booleans = cdrs.bool_spellings()
    general = cdrs.decode
    limits = run.limits
    max_duration = min(limits.max_duration_s, INT_COLUMN_MAX)
    max_volume = min(limits.max_volume_kb, INT_COLUMN_MAX)
    cap = min(limits.max_cost, COST_COLUMN_MAX)
    if not cap.is_finite():
        return False
    cap_units = int(cap.scaleb(4))  # whole ten-thousandths: a cost's units above it are above the cap
    earliest, latest = run.window
    numbers: _Memo[str, _Number | None] = _Memo(_number_lookup(run.index, {}))
    destinations: _Memo[str, str | None] = _Memo(_destination)
    utc_hours: _Memo[str, str | None] = _Memo(_utc_hour)
    costs: _Memo[str, tuple[int, Any] | bool] = _Memo(lambda cost: _price(cost, decimal_sep, cap_units, mysql))
    days: dict[tuple[int, date], tuple[str, CustomerCycle] | None] = {}  # (subscription, local day) -> cycle
    provider, batch_id = run.provider, run.result.batch_id
    run.chunk_rows = FAST_CHUNK_ROWS  # small rows: a whole batch is held and written at once
    # A local file: reading on with the batch open waits on nothing. A provider's stream has each
    # chunk committed before it is read on (a sync renews its lease from inside it: core/imports.py).
    run.batch_spans_chunks = cdrs.local
    run.chunk = min(run.commit_every, run.chunk_rows)
    rows, sources, bad, touched = run.rows, run.sources, run.bad, run.touched
    counters, chunk, take = run.counters, run.chunk, run.take
    fromisoformat = datetime.fromisoformat
    items = iter(lines)
    first = next(items, None)  # reads the header: the positions are known from here on
    if first is None:
        return True
    position = dict(lines.picks)
    if not set(cdrs.required_columns) <= position.keys():  # no header came (an empty listing)
        for item in chain((first,), items):
            take(general(item))
        return True
    p_ref, p_number, p_date, p_type, p_dest, p_dur, p_kb, p_cost = (position[name] for name in cdrs.required_columns)
    p_roaming, p_country = position.get("roaming"), position.get("visited_country")
    read = units_total = 0
    last_line = run.line_no
    try:
        for item in chain((first,), items):
            try:
                if type(item) is not tuple:
                    raise _General
                line, fields, text = item  # a Fields tuple, not a RawRow
                if not text.isascii():  # every digit and letter below is an ASCII one (O(1) on a str)
                    raise _General
                ref = fields[p_ref].strip()
                if not ref or len(ref) > 80 or not ref.isprintable():  # ASCII: no control character
                    raise _General
                number = numbers[fields[p_number]]
                if number is None:
                    raise _General
                e164, sub_id, customer_id, zone, billing_day, first_day, last_day, hours = number
                call_type = call_types.get(fields[p_type])
                if call_type is None:
                    raise _General
                destination = fields[p_dest]
                if destination:
                    found = destinations[destination]
                    if found is None:
                        raise _General
                    destination = found
                duration, volume = fields[p_dur], fields[p_kb]
                if not (duration.isdigit() and volume.isdigit()):
                    raise _General
                duration_s, volume_kb = int(duration), int(volume)
                if duration_s > max_duration or volume_kb > max_volume:
                    raise _General
                priced = costs[fields[p_cost]]
                if priced is False:
                    raise _General
                units, amount = priced  # type: ignore[misc]
                roaming = False
                if p_roaming is not None:
                    roaming = booleans.get(fields[p_roaming])  # type: ignore[assignment]
                    if roaming is None:
                        raise _General
                country = None
                if p_country is not None:
                    country = fields[p_country]
                    if country:
                        if not (len(country) == 2 and country.isalpha()):
                            raise _General
                        country = country.upper()
                    else:
                        country = None
                stamp = fields[p_date]
                when = fromisoformat(stamp)
                if not earliest <= when <= latest:  # TypeError without an offset: the general path says so
                    raise _General
                # "YYYY-MM-DDTHH:MM:SS+HH:MM" (validated by fromisoformat): its hour and offset decide,
                # once per hour, the UTC hour it is stored in and the customer's local day (_utc_hour,
                # _hour_day); the minutes and seconds are stored as written
                plain = len(stamp) == 25 and stamp[4::3] in PLAIN_STAMPS
                local_day: Any = None  # a date; False (not looked up yet) or None (convert) on the way
                utc_hour = None
                if plain:
                    hour = stamp[:13] + stamp[19:]
                    utc_hour = utc_hours[hour]
                    local_day = hours.get(hour, False)
                    if local_day is False:
                        if len(hours) >= CACHE_LIMIT:
                            hours.clear()
                        local_day = hours[hour] = _hour_day(when, zone)
                if utc_hour is None:  # not plain, or an offset with minutes: convert this one
                    stored: Any = to_column(when)
                elif mysql:  # the text pymysql would write for the naive UTC datetime (no microseconds)
                    stored = utc_hour + stamp[13:19]
                else:
                    stored = f"{utc_hour}{stamp[13:19]}.000000"
                if local_day is None:  # not plain, or a local midnight within that hour: convert this one
                    local_day = when.astimezone(zone).date()
                day = (sub_id, local_day)
                cycle: Any = days.get(day, False)
                if cycle is False:
                    if len(days) >= CACHE_LIMIT:
                        days.clear()
                    cycle = days[day] = _cycle(when, local_day, customer_id, billing_day, zone, first_day, last_day)
                    if cycle is not None:
                        touched.add(cycle[1])
                if cycle is None:  # the subscription is not active that day
                    raise _General
                cycle_start, customer_cycle = cycle
            except Exception:  # noqa: BLE001 - not plainly acceptable: the general path decides and says why
                counters["rows_read"] += read
                read = 0
                run.line_no = last_line
                take(general(item))
                last_line, chunk = run.line_no, run.chunk
                continue
            rows.append((provider, ref, customer_id, sub_id, batch_id, e164, stored, cycle_start, call_type,
                         destination, duration_s, volume_kb, amount, 1 if roaming else 0, country))
            sources.append((line, text))
            units_total += units
            read += 1
            last_line = line
            if len(rows) + len(bad) >= chunk:
                counters["rows_read"] += read
                read = 0
                run.write_chunk()
                chunk = run.chunk  # the batches grow
    finally:
        counters["rows_read"] += read
        run.line_no = last_line
        run.cost_units += units_total
    return True


def _cycle(when: datetime, local_day: date, customer_id: int, billing_day: int, zone: ZoneInfo,
           first_day: date | None, last_day: date | None) -> tuple[str, CustomerCycle] | None:
    """The cycle of a call on `local_day` (its start as stored, and the customer-cycle), or None when
    the subscription is not active that day."""
    if (first_day and local_day < first_day) or (last_day and local_day > last_day):
        return None
    start = cycle_for(when, billing_day, zone).start
    return start.isoformat(), CustomerCycle(customer_id, start)


def _utc_hour(hour: str) -> str | None:
    """"YYYY-MM-DD HH", the UTC hour of a stamp's hour and offset ("2026-09-01T01+02:00" gives
    "2026-08-31 23"), or None for an offset with minutes (they would change too)."""
    start = datetime.fromisoformat(f"{hour[:13]}:00:00{hour[13:]}")
    offset = start.utcoffset()
    if offset is None or offset % timedelta(hours=1):
        return None
    return start.astimezone(UTC).isoformat(" ")[:13]


def _hour_day(when: datetime, zone: ZoneInfo) -> date | None:
    """The local day of every moment in the UTC hour of `when`, or None when they are not all on
    one day (a zone whose midnight or offset change falls inside that hour)."""
    start = when.replace(minute=0, second=0, microsecond=0)
    first, last = start.astimezone(zone), (start + timedelta(hours=1, microseconds=-1)).astimezone(zone)
    if first.date() != last.date() or first.utcoffset() != last.utcoffset():
        return None
    return first.date()


def _destination(destination: str) -> str | None:
    """The destination as stored, or None when the general path must word why not."""
    normal = normalise_destination(destination)
    return normal if len(normal) <= 32 and normal.isprintable() else None


def _price(text: str, separator: str, cap_units: int, mysql: bool) -> tuple[int, Any] | bool:
    """A plain cost ("0.1234", at most four decimals, not above the cap) as ten-thousandths and as
    the column takes it; False for any other spelling (the general path reads it)."""
    whole, sep, decimals = text.partition(separator)
    digits = whole + decimals
    if not (whole and digits.isdigit() and len(decimals) <= 4 and (decimals or not sep)):
        return False
    units = int(digits) * SCALE[len(decimals)]
    if units > cap_units:
        return False
    return units, (Decimal(f"{whole}.{decimals}" if sep else whole) if mysql else units)


def _number_lookup(index: SubscriptionIndex, hours: dict[ZoneInfo, dict[str, date | None]]
                   ) -> Callable[[str], _Number | None]:
    """`hours` holds each zone's local days (one dict per zone, shared by its numbers)."""
    def lookup(text: str) -> _Number | None:
        """A number as written to its subscription, or None if the general path must look at it."""
        try:
            e164 = normalise_number(text)
        except ValueError:
            return None
        line = index.by_number.get(e164)
        if line is None or len(e164) > 20:
            return None
        return (e164, line.subscription_id, line.customer_id, line.zone, line.billing_day, line.start, line.end,
                hours.setdefault(line.zone, {}))
    return lookup

