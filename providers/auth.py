"""The four ways providers authenticate, as data plus the small logins they need.

Each spec names the credentials it reads (`credential_names`) and binds to a
connection as an `Auth` that the shared client asks for headers. Credentials
are read at request time and never appear in messages.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

from providers.base import BadData, InvalidCredentials, ProfileConnection
from providers.http import Auth, ProviderHttp

_TOKEN_MARGIN_S = 30.0


class AuthSpec(Protocol):
    credential_names: ClassVar[tuple[str, ...]]

    def bind(self, conn: ProfileConnection) -> Auth: ...


def credential(conn: ProfileConnection, name: str) -> str:
    value = conn.credentials.get(name)
    if not value:
        raise InvalidCredentials(f"{conn.platform}: credential {name!r} is not set")
    return value


@dataclass(frozen=True)
class ApiKeyHeader:
    """A static key in a header, e.g. `X-Api-Key: ...` or `Authorization: Token ...`."""

    header: str = "X-Api-Key"
    prefix: str = ""
    credential_names: ClassVar[tuple[str, ...]] = ("api_key",)

    def bind(self, conn: ProfileConnection) -> Auth:
        return _StaticHeader(conn, lambda: {self.header: self.prefix + credential(conn, "api_key")})


@dataclass(frozen=True)
class HttpBasic:
    credential_names: ClassVar[tuple[str, ...]] = ("username", "password")

    def bind(self, conn: ProfileConnection) -> Auth:
        return _StaticHeader(conn, lambda: {"Authorization": basic_header(conn)})


def basic_header(conn: ProfileConnection) -> str:
    pair = f"{credential(conn, 'username')}:{credential(conn, 'password')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


class _StaticHeader:
    def __init__(self, conn: ProfileConnection, make: Callable[[], dict[str, str]]) -> None:
        self.conn = conn
        self.make = make

    def headers(self, http: ProviderHttp) -> dict[str, str]:
        return self.make()

    def forget(self) -> bool:
        return False


@dataclass(frozen=True)
class OAuth2ClientCredentials:
    """OAuth2 client-credentials grant: a bearer token from `token_path`."""

    token_path: str = "oauth/token"
    credential_names: ClassVar[tuple[str, ...]] = ("client_id", "client_secret")

    def bind(self, conn: ProfileConnection) -> Auth:
        return _BearerToken(self, conn)


class _BearerToken:
    def __init__(self, spec: OAuth2ClientCredentials, conn: ProfileConnection) -> None:
        self.spec = spec
        self.conn = conn
        self.token: str | None = None
        self.expires_at = 0.0

    def headers(self, http: ProviderHttp) -> dict[str, str]:
        if self.token is None or time.monotonic() >= self.expires_at:
            self.token, lifetime = self._fetch_token(http)
            self.expires_at = time.monotonic() + max(0.0, lifetime - _TOKEN_MARGIN_S)
        return {"Authorization": f"Bearer {self.token}"}

    def _fetch_token(self, http: ProviderHttp) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": credential(self.conn, "client_id"),
            "client_secret": credential(self.conn, "client_secret"),
        }
        answer = http.json("POST", self.spec.token_path, data=form, authenticate=False)
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise BadData(f"{self.conn.platform}: token response without access_token")
        return token, float(answer.get("expires_in") or 3600)

    def forget(self) -> bool:
        had_token = self.token is not None
        self.token = None
        return had_token


@dataclass(frozen=True)
class SessionLogin:
    """A login form that sets a session cookie; one login serves a whole partner.

    Sessions are shared between adapters of the same partner (same base URL and
    credentials), so syncing fifty customers logs in once.
    """

    login_path: str = "login"
    cookie: str = "SESSION"
    username_field: str = "username"
    password_field: str = "password"
    credential_names: ClassVar[tuple[str, ...]] = ("username", "password")

    def bind(self, conn: ProfileConnection) -> Auth:
        return _SessionCookie(self, conn)


_sessions: dict[tuple[str, str], str] = {}
_sessions_lock = threading.Lock()


def _partner_key(conn: ProfileConnection) -> tuple[str, str]:
    secret = f"{credential(conn, 'username')}\0{credential(conn, 'password')}"
    return conn.base_url.rstrip("/"), hashlib.sha256(secret.encode()).hexdigest()


class _SessionCookie:
    def __init__(self, spec: SessionLogin, conn: ProfileConnection) -> None:
        self.spec = spec
        self.conn = conn
        self.used: str | None = None

    def headers(self, http: ProviderHttp) -> dict[str, str]:
        key = _partner_key(self.conn)
        with _sessions_lock:
            session = _sessions.get(key)
        if session is None:
            session = self._login(http)
            with _sessions_lock:
                _sessions[key] = session
        self.used = session
        return {"Cookie": f"{self.spec.cookie}={session}"}

    def _login(self, http: ProviderHttp) -> str:
        form = {
            self.spec.username_field: credential(self.conn, "username"),
            self.spec.password_field: credential(self.conn, "password"),
        }
        response = http.request("POST", self.spec.login_path, data=form, authenticate=False)
        session = response.cookies.get(self.spec.cookie)
        http.client.cookies.clear()  # the session travels in our own header, not the jar
        if not session:
            raise BadData(f"{self.conn.platform}: login answered without a session cookie")
        return session

    def forget(self) -> bool:
        if self.used is None:
            return False
        key = _partner_key(self.conn)
        with _sessions_lock:
            if _sessions.get(key) == self.used:
                del _sessions[key]
        self.used = None
        return True


def forget_sessions() -> None:
    """Drop all shared partner sessions (tests, or after a credential change)."""
    with _sessions_lock:
        _sessions.clear()
