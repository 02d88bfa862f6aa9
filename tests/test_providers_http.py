"""The shared client: error classification, the one short 429 retry, streams, links."""

from __future__ import annotations

import email.utils
import gzip
import pickle
import ssl
import time
import zlib

import httpx
import pytest

import providers.http
from providers import (
    InvalidCredentials,
    InvoiceNotYetAvailable,
    ProfileConnection,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from providers.adapter import DeclarativeAdapter
from providers.auth import HttpBasic
from providers.base import BadData
from providers.http import ProviderHttp, gunzip, iter_lines, retry_after_seconds
from providers.platforms import VODAFONE

CONN = ProfileConnection(
    "vodafone", "https://provider.example/vodafone", {"username": "u", "password": "hunter2"}, "C1"
)


def _http(handler: httpx.MockTransport) -> ProviderHttp:
    return ProviderHttp(CONN, HttpBasic().bind(CONN), transport=handler)


def _answer(status: int, body: object = None, **headers: str) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, json=body, headers=headers))


@pytest.mark.parametrize(
    ("status", "body", "error", "reason", "transient"),
    [
        (401, {"error": "unauthorized"}, InvalidCredentials, "invalid_credentials", False),
        (403, None, InvalidCredentials, "invalid_credentials", False),
        (
            404,
            {"error": "invoice_not_yet_available"},
            InvoiceNotYetAvailable,
            "invoice_not_yet_available",
            False,
        ),
        (
            409,
            {"code": "BILL_NOT_READY"},
            InvoiceNotYetAvailable,
            "invoice_not_yet_available",
            False,
        ),
        (
            409,
            {"melding": "Factuur nog niet beschikbaar"},
            InvoiceNotYetAvailable,
            "invoice_not_yet_available",
            False,
        ),
        (404, {"error": "unknown customer"}, ProviderError, "unknown_error", False),
        (400, {"error": "bad request"}, ProviderError, "unknown_error", False),
        (302, None, ProviderError, "unknown_error", False),
        (500, None, ProviderUnavailable, "unknown_error", True),
        (502, None, ProviderUnavailable, "unknown_error", True),
        (503, None, ProviderUnavailable, "unknown_error", True),
        (504, None, ProviderTimeout, "timeout", True),
    ],
)
def test_statuses_become_provider_errors(
    status: int, body: object, error: type[ProviderError], reason: str, transient: bool
) -> None:
    http = _http(_answer(status, body))
    with pytest.raises(error) as raised:
        http.json("GET", "api/accounts/C1/bills/2025-01")
    assert type(raised.value) is error
    assert raised.value.reason == reason
    assert raised.value.transient is transient
    message = str(raised.value)
    assert "vodafone GET /vodafone/api/accounts/C1/bills/2025-01" in message
    assert "hunter2" not in message and "dTpodW50ZXIy" not in message  # nor its base64


def test_429_with_retry_after_seconds() -> None:
    with pytest.raises(RateLimited) as raised:
        _http(_answer(429, None, **{"Retry-After": "120"})).json("GET", "x")
    assert raised.value.retry_after == 120
    assert raised.value.transient


def test_retry_after_as_a_date_or_missing() -> None:
    later = email.utils.formatdate(time.time() + 90, usegmt=True)
    assert 85 < retry_after_seconds(later) <= 90
    assert retry_after_seconds(None) == 60
    assert retry_after_seconds("soon") == 60


def test_a_short_429_is_retried_once() -> None:
    calls = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "0"})
        return httpx.Response(200, json={"ok": True})

    assert _http(httpx.MockTransport(answer)).json("GET", "x") == {"ok": True}
    assert len(calls) == 2


def test_a_long_429_is_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    sleeps: list[float] = []
    monkeypatch.setattr(providers.http.time, "sleep", sleeps.append)

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(429, headers={"Retry-After": "3"})

    with pytest.raises(RateLimited):
        _http(httpx.MockTransport(answer)).json("GET", "x")
    assert len(calls) == 1 and sleeps == []  # not waited for: no sleep at all, not a short one


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx.ConnectError("refused"), ProviderUnavailable),
        (httpx.ReadTimeout("slow"), ProviderTimeout),
        (httpx.ConnectTimeout("slow"), ProviderTimeout),
        (httpx.RemoteProtocolError("peer closed connection"), ProviderUnavailable),
    ],
)
def test_transport_failures(failure: Exception, error: type[ProviderError]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise failure

    with pytest.raises(error) as raised:
        _http(httpx.MockTransport(answer)).json("GET", "x")
    assert raised.value.transient


def test_errors_survive_pickling() -> None:
    error = pickle.loads(pickle.dumps(RateLimited("slow down", retry_after=12.5)))
    assert isinstance(error, RateLimited) and error.retry_after == 12.5 and error.transient
    custom = pickle.loads(pickle.dumps(ProviderError("odd", reason="bad_data")))
    assert custom.reason == "bad_data"


def test_not_json_is_bad_data() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>"))
    with pytest.raises(BadData):
        _http(transport).json("GET", "x")


def test_next_links_never_leave_the_provider() -> None:
    """Basic-auth credentials must not follow a next link to another host."""
    hosts = []

    def answer(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        page = {
            "_embedded": {"usage": []},
            "_links": {"next": {"href": "https://evil.example/steal"}},
        }
        return httpx.Response(200, json=page)

    adapter = DeclarativeAdapter(VODAFONE, CONN)
    adapter.http = ProviderHttp(CONN, HttpBasic().bind(CONN), transport=httpx.MockTransport(answer))
    with pytest.raises(ProviderError, match="leaves the provider's host"):
        list(adapter.fetch_cdrs("2025-01"))
    assert hosts == ["provider.example"]


def test_iter_lines_splits_across_chunks() -> None:
    chunks = [b"a,b\r\nc", b",d\n", b"", b"e,f"]
    assert list(iter_lines(chunks)) == [b"a,b", b"c,d", b"e,f"]


def test_gunzip_streams_and_notices_truncation() -> None:
    body = gzip.compress(b"x" * 100_000) + gzip.compress(b"second member")
    pieces = [body[i : i + 999] for i in range(0, len(body), 999)]
    assert b"".join(gunzip(pieces)) == b"x" * 100_000 + b"second member"
    with pytest.raises(zlib.error):
        b"".join(gunzip([body[: len(body) // 2]]))


def test_every_client_shares_one_verifying_ssl_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the CA bundle costs tens of ms per client, and every sync opens one."""
    made: list[dict[str, object]] = []
    real = httpx.Client

    def recording(**kwargs: object) -> httpx.Client:
        made.append(kwargs)
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(providers.http.httpx, "Client", recording)
    first, second = ProviderHttp(CONN), ProviderHttp(CONN)
    first.close()
    second.close()
    contexts = [kwargs["verify"] for kwargs in made]
    assert len(contexts) == 2 and contexts[0] is contexts[1]
    context = contexts[0]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname  # still verifying
