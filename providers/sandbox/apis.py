"""The seven provider APIs, served from the adapters' own `PlatformSpec`s.

Routes, field names, paging and body layout all come from the spec; what is
only the sandbox's is here: which pages hold which rows, how each platform
says "invoice not yet available", and the faults.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from providers.adapter import PlatformSpec, Resource
from providers.auth import ApiKeyHeader, AuthSpec, HttpBasic, OAuth2ClientCredentials, SessionLogin
from providers.base import check_month
from providers.listing import (
    CsvBody,
    Cursor,
    Endpoint,
    FileQueue,
    JsonBody,
    Listing,
    NdjsonBody,
    NextLink,
    PageNumbers,
)
from providers.records import encode_cdr, encode_invoice, encode_subscription
from providers.sandbox import data
from providers.sandbox.registry import Customer, SandboxRegistry, credentials_match
from providers.sandbox.render import (
    BodyStore,
    csv_stream,
    gzip_stream,
    json_records,
    ndjson_stream,
    nest,
    place,
    to_json,
)
from providers.sandbox.web import Refusal, Request, Router, send_bytes, send_json, send_stream

# how each platform says "this month's invoice is not closed yet"
NOT_READY: Mapping[str, tuple[int, dict[str, str]]] = {
    "kpn_sp16": (
        404,
        {"error": "invoice_not_yet_available", "message": "Invoice not yet available"},
    ),
    "kpn_een": (409, {"melding": "Factuur nog niet beschikbaar"}),
    "kpn_grip": (404, {"code": "INVOICE_NOT_AVAILABLE_YET"}),
    "vodafone": (409, {"code": "BILL_NOT_READY", "message": "The bill is not ready"}),
    "tmobile_calvi": (404, {"error": "Invoice not yet available"}),
    "routit": (404, {"detail": "Invoice not yet available"}),
    "yielder": (409, {"status": "not_ready"}),
}

RowSource = Callable[[int, int], Iterator[tuple[int, dict[str, object]]]]

# Bodies of CDR listings already sent, for every platform of this process: a month is
# generated once and then served as bytes, the way a provider serves a closed month.
BODIES = BodyStore()


@dataclass
class Rows:
    """A listing's encoded rows by ordinal, and the faults that shape them."""

    total: int
    read: RowSource
    malformed_every: int | None = None
    drop_at: int | None = None
    key: Hashable = None  # what the rows depend on, if a body of them may be stored

    def body_key(self, *parts: Hashable) -> Hashable:
        """The key of a body of these rows, or None when it must be rendered afresh."""
        if self.key is None or self.malformed_every is not None or self.drop_at is not None:
            return None
        return (self.key, *parts)


@dataclass
class Window:
    """The rows one page holds and the paging hints that go with it."""

    start: int
    stop: int
    document: dict[str, Any] = field(default_factory=dict)  # dotted path -> value
    headers: dict[str, str] = field(default_factory=dict)


def _values_from(
    endpoint: Endpoint, request: Request, path_values: dict[str, str]
) -> dict[str, str]:
    values = dict(path_values)
    for name, template in endpoint.query.items():
        if template.startswith("{") and template.endswith("}"):
            if name not in request.query:
                raise Refusal(400, {"error": f"missing query parameter {name!r}"})
            values[template[1:-1]] = request.query[name]
    if "month" in values:
        try:
            check_month(values["month"])
        except ValueError as error:
            raise Refusal(400, {"error": str(error)}) from None
    return values


class PlatformApi:
    """Serves one platform's spec under `/<platform>/`."""

    def __init__(self, spec: PlatformSpec, registry: SandboxRegistry) -> None:
        self.spec = spec
        self.registry = registry
        self.prefix = f"/{spec.platform}/"
        self.month_cdrs = data.ResumableCdrs()

    def install(self, router: Router) -> None:
        self._install_login(router)
        self._install_resource(router, self.spec.subscriptions, self._subscription_rows)
        self._install_resource(router, self.spec.cdrs, self.cdr_rows)
        self.route(router, "GET", self.spec.invoice.endpoint, self._invoice)

    def route(
        self,
        router: Router,
        method: str,
        endpoint: Endpoint,
        action: Callable[[Request, dict[str, str]], None],
    ) -> None:
        def act(request: Request, path_values: dict[str, str]) -> None:
            action(request, _values_from(endpoint, request, path_values))

        router.add(method, self.prefix + endpoint.path, act)

    # -- authentication and faults ---------------------------------------------

    def _install_login(self, router: Router) -> None:
        auth = self.spec.auth
        if isinstance(auth, OAuth2ClientCredentials):
            router.add("POST", self.prefix + auth.token_path, self._token)
        elif isinstance(auth, SessionLogin):
            router.add("POST", self.prefix + auth.login_path, self._session_login)

    def _token(self, request: Request, values: dict[str, str]) -> None:
        form = request.form()
        if form.get("grant_type") != "client_credentials":
            raise Refusal(400, {"error": "unsupported_grant_type"})
        presented = {name: form.get(name, "") for name in ("client_id", "client_secret")}
        token = self.registry.login(self.spec.platform, presented)
        if token is None:
            raise Refusal(401, {"error": "invalid_client"})
        send_json(
            request.handler,
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": 3600},
        )

    def _session_login(self, request: Request, values: dict[str, str]) -> None:
        auth = self.spec.auth
        assert isinstance(auth, SessionLogin)
        form = request.form()
        presented = {
            "username": form.get(auth.username_field, ""),
            "password": form.get(auth.password_field, ""),
        }
        session = self.registry.login(self.spec.platform, presented)
        if session is None:
            raise Refusal(401, {"error": "Login failed"})
        cookie = f"{auth.cookie}={session}; Path=/; HttpOnly"
        send_json(request.handler, 200, {"status": "logged in"}, {"Set-Cookie": cookie})

    def guard(self, request: Request, customer_ref: str) -> Customer:
        """The customer, once credentials and the customer's faults allow the request."""
        customer = self.registry.find(self.spec.platform, customer_ref)
        if customer is None:
            raise Refusal(404, {"error": f"unknown customer {customer_ref}"})
        faults = customer.faults
        if faults.slow:
            time.sleep(faults.slow)
        if faults.wrong_credentials or not _authorised(
            self.spec.auth, request, customer, self.registry
        ):
            raise Refusal(401, {"error": "unauthorized"})
        if faults.rate_limit is not None:
            retry_after = str(math.ceil(faults.rate_limit))
            raise Refusal(429, {"error": "too many requests"}, {"Retry-After": retry_after})
        if self.registry.take_server_error(customer):
            raise Refusal(500, {"error": "internal server error"})
        return customer

    # -- listings ----------------------------------------------------------------

    def _install_resource(
        self, router: Router, resource: Resource, rows_of: Callable[[Customer, str], Rows]
    ) -> None:
        source = resource.source
        if isinstance(source, Listing):

            def listing(request: Request, values: dict[str, str]) -> None:
                customer = self.guard(request, values["customer"])
                rows = rows_of(customer, values["month"])
                self._send_listing(request, source, resource.fields, customer, rows)

            self.route(router, "GET", source.endpoint, listing)
        elif isinstance(source, FileQueue):
            FileQueueApi(self, source, resource.fields).install(router)

    def _subscription_rows(self, customer: Customer, month: str) -> Rows:
        encoded = [
            encode_subscription(item, self.spec.wire)
            for item in data.subscriptions(customer.settings, month)
        ]
        return Rows(len(encoded), lambda start, stop: enumerate(encoded[start:stop], start))

    def cdr_rows(self, customer: Customer, month: str, subscriptions: range | None = None) -> Rows:
        settings, wire = customer.settings, self.spec.wire

        def read(start: int, stop: int) -> Iterator[tuple[int, dict[str, object]]]:
            for ordinal, cdr in self.month_cdrs.read(settings, month, start, stop, subscriptions):
                yield ordinal, encode_cdr(cdr, wire)

        total = settings.month_cdr_count()
        faults = customer.faults
        return Rows(
            total=total,
            read=read,
            malformed_every=faults.malformed_rows,
            drop_at=total // 2 if faults.drop_mid_stream else None,
            key=(self.spec.platform, settings, month, subscriptions),
        )

    def _send_listing(
        self,
        request: Request,
        listing: Listing,
        fields: Mapping[str, str],
        customer: Customer,
        rows: Rows,
    ) -> None:
        window = _window(listing, request, rows.total, customer.settings.page_size)
        body = listing.body
        if isinstance(body, JsonBody):
            key = rows.body_key(body, window.start, window.stop, *_hints(window))
            page = BODIES.get(key) if key is not None else None
            if page is None:
                records = json_records(
                    fields, rows.read(window.start, window.stop), rows.malformed_every
                )
                document: Any = records
                if body.items:
                    document = {}
                    place(document, body.items, records)
                    for path, value in window.document.items():
                        place(document, path, value)
                page = (to_json(document),)
                if key is not None:
                    page = tuple(BODIES.recording(key, page))
            drop = rows.drop_at is not None and window.start <= rows.drop_at < window.stop
            send_bytes(request.handler, 200, b"".join(page), headers=window.headers, drop=drop)
        else:
            self.send_rows(request, body, fields, rows, window)

    def send_rows(
        self, request: Request, body: Any, fields: Mapping[str, str], rows: Rows, window: Window
    ) -> None:
        """A streamed (CSV, gzip CSV, NDJSON) body for the window's rows.

        Sent from `BODIES` when it was rendered before without faults, else rendered
        while it streams (and kept, when fault-free)."""
        if isinstance(body, NdjsonBody):
            content_type = "application/x-ndjson"
        else:
            assert isinstance(body, CsvBody)
            content_type = "application/gzip" if body.gzip else "text/csv; charset=utf-8"
        key = rows.body_key(body, window.start, window.stop)
        stored = BODIES.get(key) if key is not None else None
        if stored is not None:
            send_stream(request.handler, stored, content_type, window.headers)
            return
        read = rows.read(window.start, window.stop)
        if isinstance(body, NdjsonBody):
            chunks = ndjson_stream(fields, read, rows.malformed_every, rows.drop_at)
        else:
            chunks = csv_stream(
                fields, self.spec.wire, body.delimiter, read, rows.malformed_every, rows.drop_at
            )
            if body.gzip:
                chunks = gzip_stream(chunks)
        if key is not None:
            chunks = BODIES.recording(key, chunks)
        send_stream(request.handler, chunks, content_type, window.headers)

    # -- invoice -------------------------------------------------------------------

    def _invoice(self, request: Request, values: dict[str, str]) -> None:
        customer = self.guard(request, values["customer"])
        if customer.faults.invoice_not_ready:
            status, body = NOT_READY[self.spec.platform]
            raise Refusal(status, body)
        total = data.invoice_total(customer.settings, values["month"])
        document = nest(self.spec.invoice.fields, encode_invoice(total, self.spec.wire))
        send_json(request.handler, 200, document)


def _hints(window: Window) -> tuple[Hashable, ...]:
    """A page's paging hints as part of its body's key (a next link names the host asked)."""
    return tuple(sorted(window.document.items())), tuple(sorted(window.headers.items()))


def _window(listing: Listing, request: Request, total: int, size: int) -> Window:
    """Which rows this request's page holds, and how to point at the next."""
    paging = listing.paging
    if isinstance(paging, PageNumbers):
        pages = max(1, math.ceil(total / size))
        page = _int(request.query.get(paging.param, "1"), 1)
        start = min(total, (page - 1) * size)
        window = Window(start, min(total, start + size))
        if paging.total_pages_header:
            window.headers[paging.total_pages_header] = str(pages)
        else:
            window.document.update({paging.total_pages or "total_pages": pages, "page": page})
        return window
    if isinstance(paging, Cursor):
        start = _cursor_offset(request.query.get(paging.param))
        stop = min(total, start + size)
        next_cursor = _cursor(stop) if stop < total else None
        return Window(start, stop, {paging.next_cursor: next_cursor})
    if isinstance(paging, NextLink):
        start = _int(request.query.get("offset", "0"), 0)
        stop = min(total, start + size)
        self_href = f"{request.origin}{request.path}?{urlencode(request.query)}"
        window = Window(start, stop, {"_links.self.href": self_href})
        if stop < total:
            query = urlencode({**request.query, "offset": stop})
            window.document[paging.href] = f"{request.origin}{request.path}?{query}"
        return window
    return Window(0, total)


def _int(text: str, default: int) -> int:
    try:
        return max(default, int(text))
    except ValueError:
        raise Refusal(400, {"error": f"not a number: {text!r}"}) from None


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _cursor_offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return max(0, int(text.removeprefix("o:")))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Refusal(400, {"error": "bad cursor"}) from None


def _authorised(
    auth: AuthSpec, request: Request, customer: Customer, registry: SandboxRegistry
) -> bool:
    expected = customer.credentials
    if isinstance(auth, ApiKeyHeader):
        key = request.headers.get(auth.header) or ""
        return hmac.compare_digest(key, auth.prefix + expected.get("api_key", ""))
    if isinstance(auth, HttpBasic):
        scheme, _, encoded = (request.headers.get("Authorization") or "").partition(" ")
        try:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        presented = {"username": username, "password": password}
        return scheme.lower() == "basic" and credentials_match(presented, expected)
    if isinstance(auth, OAuth2ClientCredentials):
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and registry.token_allows(token, customer)
    if isinstance(auth, SessionLogin):
        return registry.token_allows(_cookie(request, auth.cookie), customer)
    return False


def _cookie(request: Request, name: str) -> str:
    for part in (request.headers.get("Cookie") or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


class FileQueueApi:
    """A file queue: each file holds the CDRs of a few subscriptions, as gzip CSV."""

    def __init__(self, api: PlatformApi, queue: FileQueue, fields: Mapping[str, str]) -> None:
        self.api = api
        self.queue = queue
        self.fields = fields

    def install(self, router: Router) -> None:
        self.api.route(router, "GET", self.queue.files, self._list)
        self.api.route(router, "GET", self.queue.download, self._download)
        self.api.route(router, "POST", self.queue.acknowledge, self._acknowledge)

    def _files(self, customer: Customer, month: str) -> dict[str, range]:
        settings = customer.settings
        per_file = settings.subscriptions_per_file
        return {
            f"{month}-{number + 1:03d}": range(start, min(settings.subscriptions, start + per_file))
            for number, start in enumerate(range(0, settings.subscriptions, per_file))
        }

    def _list(self, request: Request, values: dict[str, str]) -> None:
        customer = self.api.guard(request, values["customer"])
        month = values["month"]
        settings = customer.settings
        files = [
            {
                "id": file_id,
                "name": f"CDR_{settings.customer_ref}_{file_id}.csv.gz",
                "period": month,
                "records": sum(settings.cdr_count(index) for index in subscriptions),
            }
            for file_id, subscriptions in self._files(customer, month).items()
            if file_id not in customer.acknowledged
        ]
        send_json(request.handler, 200, {self.queue.items: files})

    def _file(self, request: Request, values: dict[str, str]) -> tuple[Customer, str, range]:
        customer = self.api.guard(request, values["customer"])
        file_id = values["file_id"]
        month = file_id[:7]
        try:
            check_month(month)
            subscriptions = self._files(customer, month)[file_id]
        except (ValueError, KeyError):
            raise Refusal(404, {"error": f"no file {file_id}"}) from None
        if file_id in customer.acknowledged:
            raise Refusal(404, {"error": f"file {file_id} was acknowledged"})
        return customer, month, subscriptions

    def _download(self, request: Request, values: dict[str, str]) -> None:
        customer, month, subscriptions = self._file(request, values)
        rows = self.api.cdr_rows(customer, month, subscriptions)
        self.api.send_rows(request, self.queue.body, self.fields, rows, Window(0, rows.total))

    def _acknowledge(self, request: Request, values: dict[str, str]) -> None:
        customer, _, _ = self._file(request, values)
        customer.acknowledged.add(values["file_id"])
        send_json(request.handler, 204, None)


def install_all(
    router: Router, registry: SandboxRegistry, specs: Mapping[str, PlatformSpec]
) -> None:
    for spec in specs.values():
        PlatformApi(spec, registry).install(router)
