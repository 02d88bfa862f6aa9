"""CSV rows, read one line at a time so a month never sits in memory.

Each line is decoded on its own, so one bad byte sequence quarantines one row.
Quoted fields are honoured within a line; a quoted field spanning lines is not
supported (no provider writes them) and shows up as a wrong column count.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import IO

from providers.base import BadData, BadRow, ProviderCdr
from providers.lines import LINE_CAP, Overlong, stream_lines
from providers.records import CDR_FIELDS, RawRow, Wire, cdrs_from_rows

REQUIRED_COLUMNS: tuple[str, ...] = CDR_FIELDS[:8]  # all but "roaming" and "visited_country"
GENERIC_COLUMNS: Mapping[str, str] = {name: name for name in CDR_FIELDS}
GENERIC_WIRE = Wire()


class MissingColumn(BadData):
    """The header lacks a column the format requires; permanent."""

    def __init__(self, name: str) -> None:
        super().__init__(f"required column {name!r} is missing")
        self.column = name


def split_line(text: str, delimiter: str) -> list[str]:
    if '"' not in text:
        return text.split(delimiter)
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
    source: Iterable[bytes | str] = stream_lines(lines) if hasattr(lines, "read") else lines  # type: ignore[arg-type]
    try:
        yield from _rows(source, columns, required, delimiter, start_line)
    except (OSError, EOFError, zlib.error) as exc:
        raise BadData(f"compressed file is damaged: {exc}") from None


def _rows(lines: Iterable[bytes | str], columns: Mapping[str, str], required: Collection[str],
          delimiter: str, start_line: int) -> Iterator[RawRow]:
    picks: list[tuple[str, int]] | None = None
    width = 0
    for line_number, line in enumerate(lines, start_line):
        if isinstance(line, Overlong) or len(line) > LINE_CAP:
            length = line.length if isinstance(line, Overlong) else len(line)
            if picks is None:
                raise BadData(f"line {line_number}: longer than {LINE_CAP:,} bytes ({length:,})")
            head = line[:200].decode("utf-8", "backslashreplace") if isinstance(line, bytes) else line[:200]
            yield RawRow(line_number, None, head, f"line longer than {LINE_CAP:,} bytes ({length:,})")
            continue
        if isinstance(line, bytes):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                raw = line.decode("utf-8", "backslashreplace")
                if picks is None:
                    raise BadData(f"line {line_number}: header is not UTF-8") from None
                yield RawRow(line_number, None, raw, "bad encoding (not UTF-8)")
                continue
        else:
            text = line
        text = text.rstrip("\r\n")
        if not text.strip():
            continue
        try:
            fields = split_line(text, delimiter)
        except csv.Error as exc:
            if picks is None:
                raise BadData(f"line {line_number}: {exc}") from None
            yield RawRow(line_number, None, text, f"unreadable CSV: {exc}")
            continue
        if picks is None:
            picks = _header_positions(fields, columns, required)
            width = len(fields)
            continue
        if len(fields) != width:
            reason = f"wrong column count: {len(fields)} instead of {width}"
            yield RawRow(line_number, None, text, reason)
            continue
        yield RawRow(line_number, {ours: fields[index] for ours, index in picks}, text)


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
) -> Iterator[ProviderCdr | BadRow]:
    """CDRs from CSV lines (bytes or text); bad rows come out as BadRow.

    Defaults read the generic format: `REQUIRED_COLUMNS` plus an optional
    `roaming`, `visited_country`, call_date ISO 8601 with offset, decimal point.
    """
    required = {ours for ours in columns if ours in REQUIRED_COLUMNS}
    rows = iter_csv_rows(stream, columns, required, delimiter=delimiter, start_line=start_line)
    return cdrs_from_rows(rows, wire)
