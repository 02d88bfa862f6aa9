"""CSV rows, read one line at a time so a month never sits in memory.

Each line is decoded on its own, so one bad byte sequence quarantines one row.
Quoted fields are honoured within a line; a quoted field spanning lines is not
supported (no provider writes them) and shows up as a wrong column count.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from functools import partial
from typing import IO

from providers.base import BadData, BadRow, ProviderCdr
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
    return named_rows(CsvLines(lines, columns, required, delimiter=delimiter, start_line=start_line))


def named_rows(lines: CsvLines) -> Iterator[RawRow]:
    """Each line's fields keyed by our field names (a dict per row: the general path)."""
    for item in lines:
        if type(item) is tuple:
            line_number, fields, text = item  # type: ignore[misc]  # Fields, not a RawRow
            yield RawRow(line_number, {ours: fields[index] for ours, index in lines.picks}, text)
        else:
            yield item  # type: ignore[misc]


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
                        raw = line.decode("utf-8", "backslashreplace")
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


class CsvCdrs(Iterator[ProviderCdr | BadRow]):
    """The CDRs of one CSV stream: an iterator of ProviderCdr | BadRow, read once.

    The import may instead read `lines` (positional fields) and decode them itself
    (core/import_rows.py): the same lines, the same reasons, without an object per row.
    """

    def __init__(self, lines: CsvLines, wire: Wire) -> None:
        self.lines = lines
        self.wire = wire
        self._records: Iterator[ProviderCdr | BadRow] | None = None

    def __next__(self) -> ProviderCdr | BadRow:
        if self._records is None:
            self._records = cdrs_from_rows(named_rows(self.lines), self.wire)
        return next(self._records)

    # -- what the import's positional path uses (core/import_rows.py: PositionalCdrs) --------------

    required_columns = REQUIRED_COLUMNS

    def decode(self, item: Fields | RawRow) -> ProviderCdr | BadRow:
        """One item of `lines` decoded the general way (a dict and decode_cdr)."""
        if type(item) is tuple:
            line_number, fields, text = item  # type: ignore[misc]  # Fields, not a RawRow
            item = RawRow(line_number, {ours: fields[index] for ours, index in self.lines.picks}, text)
        return decode_row(item, self.wire)  # type: ignore[arg-type]

    def decode_text(self, line_number: int, text: str) -> ProviderCdr | BadRow:
        """A data line's record from its text alone (split again as `lines` split it)."""
        return self.decode((line_number, split_fields(text, self.lines.delimiter), text))

    def call_type_spellings(self) -> dict[str, str]:
        return call_type_spellings(self.wire)

    def bool_spellings(self) -> dict[str, bool]:
        return bool_spellings(self.wire)
