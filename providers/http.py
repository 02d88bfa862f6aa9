"""The one HTTP client every adapter uses: pooling, timeouts, streaming, error classes.

Retries stay with the command bus (it backs off); the client only retries a
429 once when the provider asks for at most `SHORT_RETRY_AFTER_S` seconds, and
an expired login once. Messages name the platform, method, status and path:
never credentials, tokens or query strings.
"""

from __future__ import annotations

import email.utils
import json
import re
import ssl
import time
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from functools import cache
from typing import Any, Protocol

import httpx

from providers.base import (
    BadData,
    InvalidCredentials,
    InvoiceNotYetAvailable,
    ProfileConnection,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from providers.lines import gunzip, iter_lines  # noqa: F401 - re-exported for listing

SHORT_RETRY_AFTER_S = 2.0
DEFAULT_RETRY_AFTER_S = 60.0
_NOT_YET_AVAILABLE = re.compile(
    r"not[\s_-]*yet[\s_-]*available|not[\s_-]*available[\s_-]*yet|not[\s_-]*ready"
    r"|nog[\s_-]*niet[\s_-]*beschikbaar",
    re.IGNORECASE,
)
_USER_AGENT = "expensis-console/0.1 (+providers)"


class Auth(Protocol):
    """Adds a platform's credentials to requests; may log in through `http`."""

    def headers(self, http: ProviderHttp) -> Mapping[str, str]: ...

    def forget(self) -> bool:
        """Drop a cached login; True if there was one worth renewing."""
        ...


class NoAuth:
    def headers(self, http: ProviderHttp) -> Mapping[str, str]:
        return {}

    def forget(self) -> bool:
        return False


def retry_after_seconds(value: str | None) -> float:
    """Retry-After as seconds: a number or an HTTP date."""
    if not value:
        return DEFAULT_RETRY_AFTER_S
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_S
    return max(0.0, moment.timestamp() - time.time())


def classify(response: httpx.Response, where: str) -> ProviderError | None:
    """The ProviderError an HTTP status stands for, or None for success.

    The body must already be read (error bodies are small).
    """
    status = response.status_code
    if status < 300:
        return None
    message = f"{where}: HTTP {status}"
    if status < 400:
        return ProviderError(f"{message}: redirected; check the profile's base URL")
    if status in (401, 403):
        return InvalidCredentials(message)
    detail = _error_detail(response)
    if status in (404, 409) and _NOT_YET_AVAILABLE.search(detail):
        return InvoiceNotYetAvailable(f"{message} ({detail})")
    if status == 429:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return RateLimited(f"{message}, retry after {retry_after:g} s", retry_after=retry_after)
    if status == 504:
        return ProviderTimeout(message)
    if status >= 500:
        return ProviderUnavailable(message)
    return ProviderError(f"{message} ({detail})" if detail else message)


def _error_detail(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:200]


@cache
def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi, or SSL_CERT_FILE/DIR), built once per process.

    Building one loads the whole CA bundle (40-120 ms here), and every adapter, so every
    sync, opens its own client; the context holds no per-connection state and is safe to
    share between threads.
    """
    return httpx.create_ssl_context()


class ProviderHttp:
    """One pooled httpx.Client for one adapter instance."""

    def __init__(
        self,
        conn: ProfileConnection,
        auth: Auth | None = None,
        *,
        transport: httpx.BaseTransport | None = None,  # tests: httpx.MockTransport
    ) -> None:
        self.platform = conn.platform
        self.conn = conn
        self.auth: Auth = auth or NoAuth()
        base_url = conn.base_url if conn.base_url.endswith("/") else conn.base_url + "/"
        self.client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(conn.timeout_s),
            headers={"User-Agent": _USER_AGENT},
            follow_redirects=False,
            transport=transport,
            verify=shared_ssl_context(),
        )

    def close(self) -> None:
        self.client.close()

    def same_origin(self, url: str) -> bool:
        """Whether `url` points at the configured host (credentials go nowhere else)."""
        target = self.client.base_url.join(url)
        base = self.client.base_url
        return (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port)

    @contextmanager
    def translate_errors(self, where: str) -> Iterator[None]:
        """Turn httpx transport failures (also mid-stream) into ProviderErrors."""
        try:
            yield
        except httpx.TimeoutException:
            raise ProviderTimeout(f"{where}: no answer within {self.conn.timeout_s:g} s") from None
        except httpx.ConnectError:
            raise ProviderUnavailable(f"{where}: could not connect") from None
        except httpx.TransportError as error:
            kind = type(error).__name__
            raise ProviderUnavailable(f"{where}: connection broke off ({kind})") from None
        except zlib.error:
            raise ProviderUnavailable(f"{where}: corrupt compressed body") from None

    def _where(self, method: str, url: str) -> str:
        path = self.client.base_url.join(url).path
        return f"{self.platform} {method} {path}"

    def _send(
        self,
        method: str,
        url: str,
        *,
        authenticate: bool = True,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send and check the status; on success the body is left unread."""
        where = self._where(method, url)
        renewed = retried = False
        while True:
            merged = dict(self.auth.headers(self)) if authenticate else {}
            merged.update(headers or {})
            request = self.client.build_request(method, url, headers=merged, **kwargs)
            with self.translate_errors(where):
                response = self.client.send(request, stream=True)
                if response.status_code < 300:
                    return response
                try:
                    response.read()
                finally:
                    response.close()
            error = classify(response, where)
            assert error is not None
            if isinstance(error, InvalidCredentials) and authenticate and not renewed:
                renewed = True
                if self.auth.forget():
                    continue  # the login expired: log in again, once
            if isinstance(error, RateLimited) and not retried:
                retried = True
                if error.retry_after <= SHORT_RETRY_AFTER_S:
                    time.sleep(error.retry_after)
                    continue
            raise error

    @contextmanager
    def stream(
        self, method: str, url: str, *, authenticate: bool = True, **kwargs: Any
    ) -> Iterator[httpx.Response]:
        """A checked response whose body is read lazily; transport errors translated."""
        response = self._send(method, url, authenticate=authenticate, **kwargs)
        try:
            with self.translate_errors(self._where(method, url)):
                yield response
        finally:
            response.close()

    def request(
        self, method: str, url: str, *, authenticate: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """A checked response with its (small) body read."""
        with self.stream(method, url, authenticate=authenticate, **kwargs) as response:
            response.read()
            return response

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self.request(method, url, **kwargs)
        return parse_json(response.content, self._where(method, url))


def parse_json(content: bytes, where: str) -> Any:
    """JSON with exact decimals (floats become Decimal, never float)."""
    try:
        return json.loads(content, parse_float=Decimal)
    except ValueError:
        raise BadData(f"{where}: response is not JSON") from None


