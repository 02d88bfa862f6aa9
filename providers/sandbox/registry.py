"""The sandbox's customers: what they generate, their credentials, their faults.

Faults can be switched per customer at any time (Python API or the HTTP admin
endpoint); the server reads them on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from providers.platforms import SPECS
from providers.routit_nina import NINA_RATE_LIMIT, NINA_WINDOW_S
from providers.sandbox.data import CustomerSettings, subscription_number

Clock = Callable[[], float]

DEFAULT_RETRY_AFTER_S = 30.0
DEFAULT_SLOW_S = 15.0
DEFAULT_MALFORMED_EVERY = 25


@dataclass(frozen=True)
class Faults:
    """Injected faults of one customer; all off by default.

    wrong_credentials   every request is refused with 401 (also token and login)
    rate_limit          every request gets 429 with this Retry-After (seconds)
    server_error        500s: True for every request, N for the next N only
    slow                answer only after this many seconds
    malformed_rows      every N-th CDR row is broken (True: every 25th)
    invoice_not_ready   the invoice total says "not yet available" (404/409)
    drop_mid_stream     CDR listings break off halfway (connection closed)
    """

    wrong_credentials: bool = False
    rate_limit: float | None = None
    server_error: bool | int = False
    slow: float | None = None
    malformed_rows: int | None = None
    invoice_not_ready: bool = False
    drop_mid_stream: bool = False

    @classmethod
    def parse(cls, value: Faults | Mapping[str, Any] | Iterable[str] | None) -> Faults:
        """Faults from names (`["slow"]`) or options (`{"slow": 2.5, "server_error": 3}`)."""
        if value is None:
            return cls()
        if isinstance(value, Faults):
            return value
        options = dict(value) if isinstance(value, Mapping) else dict.fromkeys(value, True)
        known = {item.name for item in fields(cls)}
        unknown = set(options) - known
        if unknown:
            raise ValueError(f"unknown faults: {', '.join(sorted(unknown))}")
        return cls(
            wrong_credentials=bool(options.get("wrong_credentials", False)),
            rate_limit=_seconds(options.get("rate_limit"), DEFAULT_RETRY_AFTER_S),
            server_error=_server_error(options.get("server_error", False)),
            slow=_seconds(options.get("slow"), DEFAULT_SLOW_S),
            malformed_rows=_every(options.get("malformed_rows")),
            invoice_not_ready=bool(options.get("invoice_not_ready", False)),
            drop_mid_stream=bool(options.get("drop_mid_stream", False)),
        )

    def active(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value not in (None, False)}


def _seconds(value: Any, default: float) -> float | None:
    if value is None or value is False:
        return None
    return default if value is True else float(value)


def _server_error(value: Any) -> bool | int:
    if isinstance(value, bool):
        return value
    count = int(value)
    return count if count > 0 else False


def _every(value: Any) -> int | None:
    if value is None or value is False:
        return None
    return DEFAULT_MALFORMED_EVERY if value is True else max(1, int(value))


def default_credentials(platform: str, customer_ref: str, seed: int = 0) -> dict[str, str]:
    """Stable credentials for a sandbox customer, in the shape its platform wants."""
    names = SPECS[platform].auth.credential_names
    digest = hashlib.sha256(f"{seed}|{platform}|{customer_ref}".encode()).hexdigest()
    values = {
        "api_key": f"key-{digest[:24]}",
        "client_id": f"{customer_ref.lower()}-client",
        "client_secret": f"secret-{digest[:20]}",
        "username": f"{customer_ref.lower()}@partner.example",
        "password": f"pw-{digest[:16]}",
    }
    return {name: values[name] for name in names}


def credentials_match(presented: Mapping[str, str], expected: Mapping[str, str]) -> bool:
    if set(presented) != set(expected):
        return False
    return all(hmac.compare_digest(presented[name], expected[name]) for name in expected)


@dataclass
class Customer:
    settings: CustomerSettings
    credentials: dict[str, str]
    faults: Faults = field(default_factory=Faults)
    server_errors_left: int | None = None  # None: every request while server_error is on
    acknowledged: set[str] = field(default_factory=set)
    addons: dict[str, dict[str, str]] = field(default_factory=dict)  # number -> code -> id
    cancellations: dict[tuple[str, str], str] = field(default_factory=dict)
    nina_calls: deque[float] = field(default_factory=deque)

    @property
    def platform(self) -> str:
        return self.settings.platform

    @property
    def customer_ref(self) -> str:
        return self.settings.customer_ref

    def numbers(self) -> set[str]:
        return {subscription_number(self.settings, i) for i in range(self.settings.subscriptions)}

    def describe(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "customer_ref": self.customer_ref,
            "subscriptions": self.settings.subscriptions,
            "cdrs_per_subscription": self.settings.cdrs_per_subscription,
            "seed": self.settings.seed,
            "page_size": self.settings.page_size,
            "credentials": dict(self.credentials),
            "faults": self.faults.active(),
        }


class SandboxRegistry:
    """Thread-safe store of customers, issued tokens/sessions and Nina windows."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self._customers: dict[tuple[str, str], Customer] = {}
        self._logins: dict[str, tuple[str, dict[str, str]]] = {}  # token -> platform, creds
        self._request_ids = 0

    def configure_customer(
        self,
        platform: str,
        customer_ref: str,
        *,
        subscriptions: int = 12,
        cdrs_per_subscription: int = 40,
        credentials: Mapping[str, str] | None = None,
        faults: Faults | Mapping[str, Any] | Iterable[str] | None = None,
        seed: int = 0,
        page_size: int = 1000,
        subscriptions_per_file: int = 5,
    ) -> Customer:
        """Add or replace a customer; returns it (its `credentials` fit its platform)."""
        if platform not in SPECS:
            raise ValueError(f"the sandbox does not serve {platform!r}")
        settings = CustomerSettings(
            platform=platform,
            customer_ref=customer_ref,
            subscriptions=subscriptions,
            cdrs_per_subscription=cdrs_per_subscription,
            seed=seed,
            page_size=max(1, page_size),
            subscriptions_per_file=max(1, subscriptions_per_file),
        )
        customer = Customer(
            settings=settings,
            credentials=dict(credentials or default_credentials(platform, customer_ref, seed)),
        )
        with self._lock:
            self._customers[(platform, customer_ref)] = customer
            self._apply_faults(customer, Faults.parse(faults))
        return customer

    def set_faults(
        self,
        platform: str,
        customer_ref: str,
        faults: Faults | Mapping[str, Any] | Iterable[str] | None = None,
        **options: Any,
    ) -> Faults:
        """Replace a customer's faults: `set_faults("routit", "ACME", slow=2)`."""
        parsed = Faults.parse(faults) if faults is not None else Faults.parse(options)
        with self._lock:
            self._apply_faults(self.customer(platform, customer_ref), parsed)
        return parsed

    def clear_faults(self, platform: str, customer_ref: str) -> None:
        self.set_faults(platform, customer_ref, Faults())

    def _apply_faults(self, customer: Customer, faults: Faults) -> None:
        customer.faults = faults
        count = faults.server_error
        customer.server_errors_left = None if isinstance(count, bool) else count

    def customer(self, platform: str, customer_ref: str) -> Customer:
        with self._lock:
            try:
                return self._customers[(platform, customer_ref)]
            except KeyError:
                raise LookupError(f"unknown sandbox customer {platform}/{customer_ref}") from None

    def find(self, platform: str, customer_ref: str) -> Customer | None:
        with self._lock:
            return self._customers.get((platform, customer_ref))

    def customers(self) -> list[Customer]:
        with self._lock:
            return list(self._customers.values())

    def take_server_error(self, customer: Customer) -> bool:
        """Whether this request should fail with a 500 (counts down `server_error=N`)."""
        with self._lock:
            if not customer.faults.server_error:
                return False
            if customer.server_errors_left is None:
                return True
            if customer.server_errors_left <= 0:
                return False
            customer.server_errors_left -= 1
            return True

    # -- logins (OAuth2 tokens and session cookies) ---------------------------

    def login(self, platform: str, presented: Mapping[str, str]) -> str | None:
        """A new token for credentials some customer of `platform` has, else None."""
        with self._lock:
            for customer in self._customers.values():
                if (
                    customer.platform == platform
                    and not customer.faults.wrong_credentials
                    and credentials_match(presented, customer.credentials)
                ):
                    token = secrets.token_urlsafe(24)
                    self._logins[token] = (platform, dict(customer.credentials))
                    return token
        return None

    @property
    def logins_issued(self) -> int:
        with self._lock:
            return len(self._logins)

    def forget_logins(self) -> None:
        """Invalidate every token and session (as if they all expired)."""
        with self._lock:
            self._logins.clear()

    def token_allows(self, token: str, customer: Customer) -> bool:
        with self._lock:
            login = self._logins.get(token)
        if login is None:
            return False
        platform, credentials = login
        return platform == customer.platform and credentials_match(
            credentials, customer.credentials
        )

    # -- Nina ------------------------------------------------------------------

    def nina_wait(self, customer: Customer) -> float | None:
        """Seconds to wait if this call breaks Nina's limit, else None (call counted)."""
        now = self.clock()
        with self._lock:
            calls = customer.nina_calls
            while calls and calls[0] <= now - NINA_WINDOW_S:
                calls.popleft()
            if len(calls) >= NINA_RATE_LIMIT:
                return max(1.0, math.ceil(calls[0] + NINA_WINDOW_S - now))
            calls.append(now)
            return None

    def next_request_id(self) -> str:
        with self._lock:
            self._request_ids += 1
            return f"NINA-{self._request_ids:06d}"
