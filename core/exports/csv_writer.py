"""Plain CSV export: UTF-8 without BOM, comma-separated, RFC 4180 quoting, streamed.

Decimals are written exactly as they are ("12.3400"), never through float;
floats are refused so that money cannot slip in as one.
"""

from __future__ import annotations

import csv
import enum
import os
import tempfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_csv(
    path: Path,
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    escape_formulas: bool = False,
) -> int:
    """Write `headers` and `rows` to `path` (atomically); returns the number of data rows.

    Cells: None -> empty, Decimal -> fixed-point with ".", date -> YYYY-MM-DD,
    datetime -> "YYYY-MM-DD HH:MM:SS", bool -> true/false, Enum -> its value.
    `escape_formulas` prefixes text starting with = + - @ with "'" for files
    that people open in a spreadsheet (it would change "+31..." numbers).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter=",", quotechar='"', lineterminator="\r\n")
            writer.writerow(headers)
            for row in rows:
                if len(row) != len(headers):
                    raise ValueError(
                        f"row {count + 1} has {len(row)} values for {len(headers)} columns"
                    )
                writer.writerow([csv_cell(value, escape_formulas) for value in row])
                count += 1
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return count


def csv_cell(value: object, escape_formulas: bool = False) -> str:
    """The text of one cell (see `write_csv`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write {value} to CSV")
        return f"{value:f}"
    if isinstance(value, float):
        raise TypeError("floats are not written to CSV exports; pass a Decimal")
    if isinstance(value, enum.Enum):
        return csv_cell(value.value, escape_formulas)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if escape_formulas and isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text
