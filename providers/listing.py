"""Listings as data: where a resource lives, how pages follow, how a body is laid out.

The fetch loop exists once (`Listing.rows`, and `FileQueue.rows` for queues);
platforms differ only in the `Endpoint`, `Body` and `Paging` values they pick.
Row line numbers run on across pages and files: the n-th line of the listing
as delivered (CSV header lines included, one line per JSON record).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Protocol, cast
from urllib.parse import quote

import httpx

from providers.base import CHECKPOINT, BadData, Checkpoint, ProviderError
from providers.csvformat import CsvLines, named_row, named_rows
from providers.csvformat import Fields as LineFields
from providers.http import ProviderHttp, parse_json
from providers.lines import gunzip, iter_lines
from providers.records import RawRow


def dig(document: Any, path: str) -> Any:
    """The value at a dotted path ("_links.next.href"); "" is the document itself."""
    value = document
    for part in path.split(".") if path else ():
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


@dataclass(frozen=True)
class Endpoint:
    """A path and query template; placeholders are {customer}, {month}, {file_id}."""

    path: str
    query: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, values: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        quoted = {name: quote(value, safe="") for name, value in values.items()}
        path = self.path.format_map(quoted)
        return path, {name: template.format_map(values) for name, template in self.query.items()}


@dataclass(frozen=True)
class Fields:
    """What to read from each record: our names to the provider's, and which must be there."""

    names: Mapping[str, str]
    required: Collection[str] = ()


Opened = tuple[Any, Iterator[RawRow]]  # the parsed document (for paging) or None; the rows


# -- bodies: how records are laid out in one response ------------------------


class Body(Protocol):
    def open(self, response: httpx.Response, fields: Fields, start_line: int) -> Opened: ...


@dataclass(frozen=True)
class JsonBody:
    """One JSON document per page; `items` is the dotted path to the record list."""

    items: str = "items"

    def open(self, response: httpx.Response, fields: Fields, start_line: int) -> Opened:
        document = parse_json(response.read(), str(response.url.path))
        records = dig(document, self.items)
        if not isinstance(records, list):
            raise BadData(f"{response.url.path}: no record list at {self.items!r}")
        to_row = JsonRows(fields.names)
        return document, (to_row(line, record) for line, record in enumerate(records, start_line))


@dataclass(frozen=True)
class NdjsonBody:
    """One JSON record per line, streamed."""

    def open(self, response: httpx.Response, fields: Fields, start_line: int) -> Opened:
        return None, self._rows(response, fields.names, start_line)

    def _rows(
        self, response: httpx.Response, columns: Mapping[str, str], start_line: int
    ) -> Iterator[RawRow]:
        to_row = JsonRows(columns)
        for line, raw in enumerate(iter_lines(response.iter_bytes()), start_line):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except UnicodeDecodeError:
                text = raw.decode("utf-8", "backslashreplace")
                yield RawRow(line, None, text, "bad encoding (not UTF-8)")
                continue
            except ValueError:
                text = raw.decode("utf-8", "backslashreplace")
                yield RawRow(line, None, text, "bad JSON")
                continue
            yield to_row(line, record)


class JsonRows:
    """Turns JSON records into rows; plain keys are looked up directly, dotted paths dug."""

    def __init__(self, columns: Mapping[str, str]) -> None:
        self.plain = [(ours, path) for ours, path in columns.items() if "." not in path]
        self.dotted = [(ours, path) for ours, path in columns.items() if "." in path]

    def __call__(self, line: int, record: Any) -> RawRow:
        if not isinstance(record, dict):
            return RawRow(line, None, record, "record is not an object")
        values = {ours: record.get(key) for ours, key in self.plain}
        for ours, path in self.dotted:
            values[ours] = dig(record, path)
        return RawRow(line, values, record)


@dataclass(frozen=True)
class CsvBody:
    """CSV streamed line by line, optionally gzip-compressed (a `.csv.gz` file)."""

    delimiter: str = ","
    gzip: bool = False

    def open(self, response: httpx.Response, fields: Fields, start_line: int) -> Opened:
        return None, cast(Iterator[RawRow], named_rows(self.lines(response, fields, start_line)))  # no Checkpoint

    def lines(self, response: httpx.Response, fields: Fields, start_line: int) -> CsvLines:
        """The response's lines by position (what `open` names field by field)."""
        chunks = response.iter_bytes()
        lines = iter_lines(gunzip(chunks) if self.gzip else chunks)
        return CsvLines(lines, fields.names, fields.required, delimiter=self.delimiter, start_line=start_line)


class CsvPages:
    """A CSV listing's data lines by position over all its pages or files, as CsvLines gives
    one stream's (the import's fast path reads them: core/import_rows.py), with the listing's
    Checkpoint among them. `picks` are the first page's columns; a later page whose header
    places them otherwise comes as named rows, which the import decodes the general way."""

    def __init__(self, source: Source, http: ProviderHttp, fields: Fields, values: Mapping[str, str],
                 body: CsvBody) -> None:
        self.source = source
        self.http = http
        self.fields = fields
        self.values = values
        self.body = body
        self.required = fields.required
        self.delimiter = body.delimiter
        self.picks: list[tuple[str, int]] = []

    def __iter__(self) -> Iterator[LineFields | RawRow | Checkpoint]:
        return self.source.rows(self.http, self.fields, self.values, self)  # its rows are `page`s items

    def page(self, response: httpx.Response, start_line: int) -> Iterator[LineFields | RawRow]:
        """One response's items; its header is read here, so `picks` is known before they come."""
        lines = self.body.lines(response, self.fields, start_line)
        items = iter(lines)
        first = next(items, None)
        if not self.picks:
            self.picks = lines.picks
        if first is None:
            return iter(())
        if lines.picks == self.picks:
            return chain((first,), items)  # no Python call per line between the reader and the import
        return (named_row(item, lines.picks) for item in chain((first,), items))


# -- paging: which request comes next -----------------------------------------


@dataclass(frozen=True)
class Page:
    url: str
    params: dict[str, str]
    number: int = 1


class Paging(Protocol):
    def first(self, url: str, params: dict[str, str]) -> Page: ...

    def next(self, page: Page, response: httpx.Response, document: Any) -> Page | None: ...


class _StartsPlain:
    """Paging whose first request is the endpoint as it is."""

    def first(self, url: str, params: dict[str, str]) -> Page:
        return Page(url, params)


@dataclass(frozen=True)
class SinglePage(_StartsPlain):
    """The whole listing in one (streamed) response."""

    def next(self, page: Page, response: httpx.Response, document: Any) -> Page | None:
        return None


@dataclass(frozen=True)
class PageNumbers:
    """`?page=N` until the page count, read from the document or a header."""

    param: str = "page"
    total_pages: str | None = "total_pages"  # dotted path in the document
    total_pages_header: str | None = None

    def first(self, url: str, params: dict[str, str]) -> Page:
        return Page(url, {**params, self.param: "1"})

    def next(self, page: Page, response: httpx.Response, document: Any) -> Page | None:
        if self.total_pages_header:
            total = response.headers.get(self.total_pages_header)
        else:
            total = dig(document, self.total_pages or "")
        try:
            last = int(total)
        except (TypeError, ValueError):
            raise BadData(f"{response.url.path}: page count missing") from None
        if page.number >= last:
            return None
        number = page.number + 1
        return Page(page.url, {**page.params, self.param: str(number)}, number)


@dataclass(frozen=True)
class Cursor(_StartsPlain):
    """`?cursor=...` with the value the previous page handed out."""

    param: str = "cursor"
    next_cursor: str = "next_cursor"

    def next(self, page: Page, response: httpx.Response, document: Any) -> Page | None:
        cursor = dig(document, self.next_cursor)
        if not cursor:
            return None
        return Page(page.url, {**page.params, self.param: str(cursor)}, page.number + 1)


@dataclass(frozen=True)
class NextLink(_StartsPlain):
    """Follow the document's next link (HAL `_links.next.href`) to its end."""

    href: str = "_links.next.href"

    def next(self, page: Page, response: httpx.Response, document: Any) -> Page | None:
        link = dig(document, self.href)
        if not link:
            return None
        return Page(str(response.url.join(str(link))), {}, page.number + 1)


# -- sources: a paged listing or a file queue ---------------------------------


class Source(Protocol):
    @property
    def body(self) -> Body: ...

    def rows(
        self, http: ProviderHttp, fields: Fields, values: Mapping[str, str], pages: CsvPages | None = None
    ) -> Iterator[RawRow | Checkpoint]:
        """Every row of the source; with `pages` (a CSV body), each response's lines by position."""
        ...


@dataclass(frozen=True)
class Listing:
    endpoint: Endpoint
    body: Body
    paging: Paging = SinglePage()

    def rows(
        self, http: ProviderHttp, fields: Fields, values: Mapping[str, str], pages: CsvPages | None = None
    ) -> Iterator[RawRow]:
        """Every row of every page, streamed; pages are requested as rows run out."""
        page: Page | None = self.paging.first(*self.endpoint.resolve(values))
        line = 1
        while page is not None:
            if not http.same_origin(page.url):
                raise ProviderError(f"{http.platform}: next page link leaves the provider's host")
            response, document, line = yield from _response_rows(
                http, self.body, page.url, page.params, fields, line, pages
            )
            page = self.paging.next(page, response, document)


@dataclass(frozen=True)
class FileQueue:
    """Pending files to download one by one, acknowledged once fully consumed.

    Files are acknowledged only after the consumer has drained the iterator:
    a dropped download or an abandoned iteration leaves every file pending,
    and the next sync reads them again (CDRs deduplicate on provider_ref).
    `CHECKPOINT` comes just before the acknowledgements, so a consumer that
    commits has everything in its database before the provider forgets it.
    """

    files: Endpoint
    download: Endpoint
    acknowledge: Endpoint
    body: Body
    items: str = "files"
    file_id: str = "id"
    period: str = "period"

    def rows(
        self, http: ProviderHttp, fields: Fields, values: Mapping[str, str], pages: CsvPages | None = None
    ) -> Iterator[RawRow | Checkpoint]:
        url, params = self.files.resolve(values)
        listing = dig(http.json("GET", url, params=params), self.items)
        if not isinstance(listing, list):
            raise BadData(f"{http.platform}: file list without {self.items!r}")
        pending = [
            str(entry[self.file_id])
            for entry in listing
            if isinstance(entry, dict) and dig(entry, self.period) in (None, values["month"])
        ]
        line = 1
        for file_id in pending:
            url, params = self.download.resolve({**values, "file_id": file_id})
            _, _, line = yield from _response_rows(http, self.body, url, params, fields, line, pages)
        if pending:
            yield CHECKPOINT
        for file_id in pending:
            url, params = self.acknowledge.resolve({**values, "file_id": file_id})
            http.request("POST", url, params=params)


def _response_rows(
    http: ProviderHttp,
    body: Body,
    url: str,
    params: dict[str, str],
    fields: Fields,
    line: int,
    pages: CsvPages | None = None,
) -> Generator[RawRow, None, tuple[httpx.Response, Any, int]]:
    """Stream one response's rows (with `pages`, its lines by position); returns it, its
    document and the next line number."""
    with http.stream("GET", url, params=params or None) as response:  # {} would drop a link's query
        document, rows = body.open(response, fields, line) if pages is None else (None, pages.page(response, line))
        for row in rows:
            yield row  # type: ignore[misc]  # with `pages`, a line's positional fields
            line = row[0] + 1  # a RawRow's line, or a positional line's
    return response, document, line
