"""One adapter class for every HTTP platform, driven by a `PlatformSpec`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from providers.auth import AuthSpec
from providers.base import (
    BadData,
    BadRow,
    Checkpoint,
    InvoiceTotal,
    ProfileConnection,
    ProviderCdr,
    ProviderSubscription,
    check_month,
)
from providers.csvformat import REQUIRED_COLUMNS, CsvCdrs
from providers.http import ProviderHttp
from providers.listing import CsvBody, CsvPages, Endpoint, Fields, Source, dig
from providers.records import RowError, Wire, cdrs_from_rows, decode_invoice, decode_subscription


@dataclass(frozen=True)
class Resource:
    """Where a record kind comes from and what the provider calls its fields.

    `fields` maps our field names to the provider's column names (CSV) or
    dotted paths (JSON); a field the provider lacks is simply left out.
    """

    source: Source
    fields: Mapping[str, str]


@dataclass(frozen=True)
class InvoiceResource:
    endpoint: Endpoint
    fields: Mapping[str, str]  # amount, and cdr_count/currency where reported


@dataclass(frozen=True)
class PlatformSpec:
    platform: str
    auth: AuthSpec
    wire: Wire
    subscriptions: Resource
    cdrs: Resource
    invoice: InvoiceResource


class DeclarativeAdapter:
    """A ProviderAdapter for any `PlatformSpec`, over one pooled client."""

    def __init__(self, spec: PlatformSpec, conn: ProfileConnection) -> None:
        self.platform = spec.platform
        self.spec = spec
        self.conn = conn
        self.http = ProviderHttp(conn, spec.auth.bind(conn))

    def __enter__(self) -> DeclarativeAdapter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _values(self, month: str) -> dict[str, str]:
        check_month(month)
        return {"customer": self.conn.customer_ref, "month": month}

    def fetch_subscriptions(self, month: str) -> Iterator[ProviderSubscription]:
        values = self._values(month)
        return self._subscriptions(values)

    def _subscriptions(self, values: dict[str, str]) -> Iterator[ProviderSubscription]:
        resource = self.spec.subscriptions
        rows = resource.source.rows(self.http, Fields(resource.fields, {"number"}), values)
        for row in rows:
            if isinstance(row, Checkpoint):  # nothing is acknowledged after subscriptions
                continue
            try:
                if row.values is None:
                    raise RowError(row.error or "unreadable row")
                yield decode_subscription(row.values, self.spec.wire, self.conn.customer_ref)
            except RowError as error:
                raise BadData(f"{self.platform}: subscription line {row.line}: {error}") from None

    def fetch_cdrs(self, month: str, *, checkpoints: bool = False
                   ) -> Iterator[ProviderCdr | BadRow | Checkpoint]:
        values = self._values(month)
        resource = self.spec.cdrs
        source, fields = resource.source, Fields(resource.fields, REQUIRED_COLUMNS)
        if isinstance(source.body, CsvBody):  # the import may read its lines by position (core/import_rows.py)
            pages = CsvPages(source, self.http, fields, values, source.body)
            return CsvCdrs(pages, self.spec.wire, local=False, checkpoints=checkpoints)
        return cdrs_from_rows(source.rows(self.http, fields, values), self.spec.wire, checkpoints)

    def fetch_invoice_total(self, month: str) -> InvoiceTotal | None:
        values = self._values(month)
        invoice = self.spec.invoice
        url, params = invoice.endpoint.resolve(values)
        document = self.http.json("GET", url, params=params)
        row = {ours: dig(document, path) for ours, path in invoice.fields.items()}
        try:
            return decode_invoice(row, self.spec.wire)
        except RowError as error:
            raise BadData(f"{self.platform}: invoice total: {error}") from None
