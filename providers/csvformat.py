"""CSV rows, read one line at a time so a month never sits in memory.

Each line is decoded on its own, so one bad byte sequence quarantines one row.
Quoted fields are honoured within a line; a quoted field spanning lines is not
supported (no provider writes them) and shows up as a wrong column count.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Mapping
from functools import partial
from typing import IO, Any, Protocol, cast

from providers.base import BadData, BadRow, Checkpoint, ProviderCdr
from providers.lines import LINE_CAP, Overlong, buffered_readline, capped, stream_lines
from providers.records import (
    CDR_FIELDS,
    RawRow,
    Wire,
    bool_spellings,
    call_type_spellings,
    cdrs_from_rows,
    decode_row,
)

REQUIRED_COLUMNS: tuple[str, ...] = CDR_FIELDS[:8]  # all but "roaming" and "visited_country"
GENERIC_COLUMNS: Mapping[str, str] = {name: name for name in CDR_FIELDS}
GENERIC_WIRE = Wire()


class MissingColumn(BadData):
    """The header lacks a column the format requires; permanent."""

    def __init__(self, name: str) -> None:
        super().__init__(f"required column {name!r} is missing")
        self.column = name


# One data line with the right column count: (physical line number, its fields, the line's text).
Fields = tuple[int, list[str], str]


def split_fields(text: str, delimiter: str) -> list[str]:
    """A line's fields, as CsvLines splits them (csv.Error if its quotes do not close)."""
    return split_quoted(text, delimiter) if '"' in text else text.split(delimiter)


def split_quoted(text: str, delimiter: str) -> list[str]:
    return next(csv.reader((text,), delimiter=delimiter))


def iter_csv_rows(
    lines: Iterable[bytes | str] | IO[bytes],
    columns: Mapping[str, str],
    required: Collection[str],
    *,
    delimiter: str = ",",
    start_line: int = 1,
) -> Iterator[RawRow]:
    """Rows keyed by our field names; `columns` maps our names to header names.

    `lines` is a binary file (read in bounded chunks, gzip or not) or lines. The first
    non-empty line is the header; `start_line` is the number of the first line, and
    every physical line counts, blank ones too. A line over LINE_CAP is quarantined.
    """
    csv_lines = CsvLines(lines, columns, required, delimiter=delimiter, start_line=start_line)
    return cast(Iterator[RawRow], named_rows(csv_lines))  # no Checkpoint among one stream's lines


def named_rows(lines: PositionalLines) -> Iterator[RawRow | Checkpoint]:
    """Each line's fields keyed by our field names (a dict per row: the general path); a
    RawRow or a Checkpoint among the lines comes out as it is."""
    for item in lines:
        yield named_row(item, lines.picks)


def named_row(item: Any, picks: list[tuple[str, int]]) -> Any:
    """A positional line (line, fields, text) as a RawRow keyed by our field names (`picks`:
    each name's column index); anything else (a RawRow, a Checkpoint) as it is."""
    if type(item) is tuple:
        line_number, fields, text = item
        return RawRow(line_number, {ours: fields[index] for ours, index in picks}, text)
    return item


class CsvLines:
    """A CSV stream's data lines as positional fields, or a RawRow saying why a line is unreadable.

    The one reader of CSV lines: `iter_csv_rows` keys its fields by name, the import's
    fast path (core/import_rows.py) reads them by position. `picks` (our field name and
    its column index) is set once the header has been read, before the first line comes out.
    """

    def __init__(self, lines: Iterable[bytes | str] | IO[bytes], columns: Mapping[str, str],
                 required: Collection[str], *, delimiter: str = ",", start_line: int = 1) -> None:
        self.lines = lines
        self.columns = columns
        self.required = required
        self.delimiter = delimiter
        self.start_line = start_line
        self.picks: list[tuple[str, int]] = []

    def __iter__(self) -> Iterator[Fields | RawRow]:
        lines = self.lines
        if not hasattr(lines, "read"):
            return self._items(lines)
        readline = buffered_readline(lines)  # type: ignore[arg-type]
        if readline is None:
            return self._items(stream_lines(lines))  # type: ignore[arg-type]
        # a buffered file: one C-level readline per line and no generator between it and this one
        return self._items(iter(partial(readline, LINE_CAP + 3), b""), readline)

    def _items(self, lines: Iterable[bytes | str],
               readline: Callable[[int], bytes] | None = None) -> Iterator[Fields | RawRow]:
        """The lines' items; `readline` (when `lines` calls it) reads the rest of an overlong line."""
        delimiter = self.delimiter
        header = True
        width = 0
        try:
            for line_number, line in enumerate(lines, self.start_line):
                if len(line) > LINE_CAP or isinstance(line, Overlong):
                    if readline is not None:  # a line read with its line end: too long, or just its end?
                        line = capped(line, readline)  # type: ignore[arg-type]
                    if readline is None or isinstance(line, Overlong):
                        length = line.length if isinstance(line, Overlong) else len(line)
                        if header:
                            raise BadData(f"line {line_number}: longer than {LINE_CAP:,} bytes ({length:,})")
                        head = line[:200].decode("utf-8", "backslashreplace") if isinstance(line, bytes) \
                            else line[:200]
                        yield RawRow(line_number, None, head, f"line longer than {LINE_CAP:,} bytes ({length:,})")
                        continue
                if isinstance(line, bytes):
                    try:
                        text = line.decode("utf-8")
                    except UnicodeDecodeError:
                        raw = line.decode("utf-8", "backslashreplace").rstrip("\r\n")  # as a stream's lines come
                        if header:
                            raise BadData(f"line {line_number}: header is not UTF-8") from None
                        yield RawRow(line_number, None, raw, "bad encoding (not UTF-8)")
                        continue
                else:
                    text = line
                text = text.rstrip("\r\n")
                if not text or text.isspace():  # the same whitespace as str.strip()
                    continue
                if '"' in text:
                    try:
                        fields = split_quoted(text, delimiter)
                    except csv.Error as exc:
                        if header:
                            raise BadData(f"line {line_number}: {exc}") from None
                        yield RawRow(line_number, None, text, f"unreadable CSV: {exc}")
                        continue
                else:
                    fields = text.split(delimiter)
                if header:
                    self.picks = _header_positions(fields, self.columns, self.required)
                    width = len(fields)
                    header = False
                    continue
                if len(fields) != width:
                    yield RawRow(line_number, None, text, f"wrong column count: {len(fields)} instead of {width}")
                    continue
                yield line_number, fields, text
        except (OSError, EOFError, zlib.error) as exc:
            raise BadData(f"compressed file is damaged: {exc}") from None


def _header_positions(
    header: list[str], columns: Mapping[str, str], required: Collection[str]
) -> list[tuple[str, int]]:
    position = {name.strip().lstrip("\ufeff").lower(): i for i, name in enumerate(header)}
    picks: list[tuple[str, int]] = []
    for ours, theirs in columns.items():
        index = position.get(theirs.lower())
        if index is not None:
            picks.append((ours, index))
        elif ours in required:
            raise MissingColumn(theirs)
    return picks


def parse_cdr_csv(
    stream: Iterable[bytes | str] | IO[bytes],
    *,
    start_line: int = 1,
    delimiter: str = ",",
    columns: Mapping[str, str] = GENERIC_COLUMNS,
    wire: Wire = GENERIC_WIRE,
) -> CsvCdrs:
    """CDRs from CSV lines (bytes or text); bad rows come out as BadRow.

    Defaults read the generic format: `REQUIRED_COLUMNS` plus an optional
    `roaming`, `visited_country`, call_date ISO 8601 with offset, decimal point.
    """
    required = {ours for ours in columns if ours in REQUIRED_COLUMNS}
    return CsvCdrs(CsvLines(stream, columns, required, delimiter=delimiter, start_line=start_line), wire)


class PositionalLines(Protocol):
    """CSV data lines by position: CsvLines, or a provider listing's pages (providers/listing.py)."""

    required: Collection[str]
    delimiter: str

    @property
    def picks(self) -> list[tuple[str, int]]:
        """Our field names and their column indexes, known once the header is read."""
        ...

    def __iter__(self) -> Iterator[Fields | RawRow | Checkpoint]: ...


_Records = Generator[ProviderCdr | BadRow | Checkpoint, None, None]


class CsvCdrs(Generator[ProviderCdr | BadRow | Checkpoint, None, None]):
    """The CDRs of one CSV stream: a generator of ProviderCdr | BadRow, read once (and
    Checkpoint where `checkpoints` asks for them: a provider's file queue); closing it
    closes the stream, as an abandoned sync does.

    The import may instead read `lines` (positional fields) and decode them itself
    (core/import_rows.py): the same lines, the same reasons, without an object per row.
    `local` says the lines come from a file on this machine, not a provider's server:
    reading on may then keep a batch uncommitted, as it waits on nothing.
    """

    def __init__(self, lines: PositionalLines, wire: Wire, *, local: bool = True,
                 checkpoints: bool = False) -> None:
        self.lines = lines
        self.wire = wire
        self.local = local
        self.checkpoints = checkpoints
        self._records: _Records | None = None

    def __iter__(self) -> _Records:
        """The records themselves: a loop over them makes no Python call per record here."""
        if self._records is None:  # cdrs_from_rows is a generator function
            self._records = cast(_Records, cdrs_from_rows(named_rows(self.lines), self.wire, self.checkpoints))
        return self._records

    def __next__(self) -> ProviderCdr | BadRow | Checkpoint:
        return next(iter(self))

    def send(self, value: None) -> ProviderCdr | BadRow | Checkpoint:
        return iter(self).send(value)

    def throw(self, *error: Any) -> ProviderCdr | BadRow | Checkpoint:
        return iter(self).throw(*error)

    def close(self) -> None:
        if self._records is not None:
            self._records.close()

    # -- what the import's positional path uses (core/import_rows.py: PositionalCdrs) --------------

    required_columns = REQUIRED_COLUMNS

    def decode(self, item: Fields | RawRow | Checkpoint) -> ProviderCdr | BadRow | Checkpoint:
        """One item of `lines` decoded the general way (a dict and decode_cdr); a Checkpoint
        stays one (the import commits what it has)."""
        if isinstance(item, Checkpoint):
            return item
        return self._decode(item)

    def _decode(self, item: Fields | RawRow) -> ProviderCdr | BadRow:
        return decode_row(named_row(item, self.lines.picks), self.wire)

    def decode_text(self, line_number: int, text: str) -> ProviderCdr | BadRow:
        """A data line's record from its text alone (split again as `lines` split it)."""
        return self._decode((line_number, split_fields(text, self.lines.delimiter), text))

    def call_type_spellings(self) -> dict[str, str]:
        return call_type_spellings(self.wire)

    def bool_spellings(self) -> dict[str, bool]:
        return bool_spellings(self.wire)

    def tapped(self, tap: Callable[[Iterator[Any]], Iterator[Any]]) -> CsvCdrs:
        """The same CDRs with `lines` read through `tap` (which passes every item on): a sync
        renews its lease there, and the import still reads the lines by position."""
        return CsvCdrs(_TappedLines(self.lines, tap), self.wire, local=self.local, checkpoints=self.checkpoints)


class _TappedLines:
    """`lines` read through `tap`; their header positions as `lines` has them."""

    def __init__(self, lines: PositionalLines, tap: Callable[[Iterator[Any]], Iterator[Any]]) -> None:
        self.lines = lines
        self.tap = tap
        self.required = lines.required
        self.delimiter = lines.delimiter

    @property
    def picks(self) -> list[tuple[str, int]]:
        return self.lines.picks

    def __iter__(self) -> Iterator[Fields | RawRow | Checkpoint]:
        return self.tap(iter(self.lines))
