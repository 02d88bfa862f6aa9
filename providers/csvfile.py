"""The `csv_file` platform: CDRs in the generic CSV format from a local path.

The profile's base URL is a file (`/data/cdrs-2025-01.csv`, `file:///...`) or
a directory. From a directory, a month reads every `*.csv` / `*.csv.gz` whose
name contains the month ("2025-01"), in name order, and subscriptions from
`subscriptions*.csv` (columns named as `ProviderSubscription`'s fields, ISO
dates). There is no invoice: `fetch_invoice_total` returns None.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlparse

from providers.base import (
    BadData,
    BadRow,
    Checkpoint,
    InvoiceTotal,
    ProfileConnection,
    ProviderCdr,
    ProviderError,
    ProviderSubscription,
    check_month,
    register_adapter,
)
from providers.csvformat import iter_csv_rows, parse_cdr_csv
from providers.records import SUBSCRIPTION_FIELDS, RowError, Wire, decode_subscription

_WIRE = Wire()


def local_path(base_url: str) -> Path:
    """A filesystem path from a plain path or a file:// URL."""
    if base_url.startswith("file:"):
        return Path(unquote(urlparse(base_url).path))
    return Path(base_url).expanduser()


def _open(path: Path) -> IO[bytes]:
    """The raw file: the CSV reader tells gzip by its first bytes, whatever the name says."""
    return path.open("rb")


class CsvFileAdapter:
    platform = "csv_file"

    def __init__(self, conn: ProfileConnection) -> None:
        self.conn = conn
        self.path = local_path(conn.base_url)

    def close(self) -> None:
        pass

    def _files(self, pattern: str, month: str | None) -> list[Path]:
        if self.path.is_file():
            return [self.path] if month is not None else []
        if not self.path.is_dir():
            raise ProviderError(f"csv_file: {self.path} does not exist")
        found = [
            path
            for suffix in (".csv", ".csv.gz")
            for path in self.path.glob(pattern + suffix)
            if not path.name.startswith("subscriptions") or month is None
        ]
        return sorted(path for path in found if month is None or month in path.name)

    def fetch_cdrs(self, month: str, *, checkpoints: bool = False) -> Iterator[ProviderCdr | BadRow | Checkpoint]:
        """Files are only read, never moved, so there is nothing to checkpoint."""
        check_month(month)
        return self._cdrs(self._files("*", month))

    def _cdrs(self, files: list[Path]) -> Iterator[ProviderCdr | BadRow | Checkpoint]:
        """Line numbers are each file's own; with several files the reason names the file."""
        for path in files:
            with _open(path) as stream:
                for record in parse_cdr_csv(stream):
                    if isinstance(record, BadRow) and len(files) > 1:
                        record = BadRow(record.line, f"{path.name}: {record.reason}", record.raw)
                    yield record

    def fetch_subscriptions(self, month: str) -> Iterator[ProviderSubscription]:
        check_month(month)
        return self._subscriptions(self._files("subscriptions*", None))

    def _subscriptions(self, files: list[Path]) -> Iterator[ProviderSubscription]:
        columns = {name: name for name in SUBSCRIPTION_FIELDS}
        for path in files:
            with _open(path) as stream:
                for row in iter_csv_rows(stream, columns, {"number"}):
                    try:
                        if row.values is None:
                            raise RowError(row.error or "unreadable row")
                        yield decode_subscription(row.values, _WIRE, self.conn.customer_ref)
                    except RowError as error:
                        raise BadData(f"{path.name} line {row.line}: {error}") from None

    def fetch_invoice_total(self, month: str) -> InvoiceTotal | None:
        check_month(month)
        return None


register_adapter("csv_file", CsvFileAdapter)
