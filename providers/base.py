"""The provider contract: records, errors, the adapter protocol and the registry.

`core` reaches providers only through this module: it opens an adapter for a
sync profile's connection and iterates what it yields.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import BinaryIO, Protocol

# core reaches the one phone-number function through this module
from providers.numbers import normalise_destination as normalise_destination
from providers.numbers import normalise_number as normalise_number

PLATFORMS: tuple[str, ...] = (
    "kpn_sp16",
    "kpn_een",
    "kpn_grip",
    "vodafone",
    "tmobile_calvi",
    "routit",
    "yielder",
    "csv_file",
)

CALL_TYPES: tuple[str, ...] = ("voice", "sms", "data", "voice_in")  # voice_in: incoming call


# -- errors -------------------------------------------------------------------


class ProviderError(Exception):
    """A provider call failed; `reason` is the sync task's failure reason."""

    reason: str = "unknown_error"
    transient: bool = False

    def __init__(self, message: str = "", *, reason: str | None = None) -> None:
        super().__init__(message or self.__class__.__name__)
        if reason is not None:
            self.reason = reason

    def __reduce__(self) -> tuple[object, ...]:
        # keyword-only fields (retry_after) survive pickling to another worker
        return (_restore_error, (type(self), str(self), dict(self.__dict__)))


def _restore_error(
    cls: type[ProviderError], message: str, state: dict[str, object]
) -> ProviderError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class InvalidCredentials(ProviderError):
    """401/403: the stored credentials are wrong or lack access; permanent."""

    reason = "invalid_credentials"


class InvoiceNotYetAvailable(ProviderError):
    """The provider has not closed the month yet; reschedule the sync."""

    reason = "invoice_not_yet_available"


class RateLimited(ProviderError):
    """429: come back after `retry_after` seconds."""

    reason = "rate_limited"
    transient = True

    def __init__(self, message: str = "", *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderTimeout(ProviderError):
    """The provider did not answer within the connection's timeout."""

    reason = "timeout"
    transient = True


class ProviderUnavailable(ProviderError):
    """5xx, refused or dropped connection, truncated body: try again later."""

    reason = "unknown_error"
    transient = True


class BadData(ProviderError):
    """The provider sent something that cannot be read at all; permanent."""

    reason = "bad_data"


# -- records ------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderSubscription:
    number: str
    customer_ref: str
    sim: str | None = None
    imei: str | None = None
    device_model: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    portation_date: date | None = None
    plan_code: str | None = None


@dataclass(frozen=True)
class ProviderCdr:
    provider_ref: str
    number: str
    call_date: datetime
    call_type: str
    destination: str
    duration_s: int
    volume_kb: int
    provider_cost: Decimal
    roaming: bool = False
    visited_country: str = ""  # ISO 3166 alpha-2 where a roaming CDR happened; "" unknown
    line: int = field(default=0, compare=False)  # where it was read (file line, record number); 0: unknown


@dataclass(frozen=True)
class BadRow:
    """A provider row that could not be read; quarantined, the rest still lands."""

    line: int
    reason: str
    raw: str


class Checkpoint:
    """In a CDR stream: commit everything received so far before asking for more.

    A source yields it just before it acknowledges what it sent (Yielder's file
    queue forgets acknowledged files), so nothing the provider stops offering is
    missing from the database. Only a consumer that commits asks for them.
    """

    def __repr__(self) -> str:
        return "CHECKPOINT"


CHECKPOINT = Checkpoint()


@dataclass(frozen=True)
class InvoiceTotal:
    amount: Decimal
    cdr_count: int | None
    currency: str = "EUR"


@dataclass(frozen=True)
class ProfileConnection:
    platform: str
    base_url: str
    credentials: dict[str, str] = field(repr=False)
    customer_ref: str
    timeout_s: float = 10.0


# -- the adapter protocol and its registry -------------------------------------


class ProviderAdapter(Protocol):
    platform: str

    def fetch_subscriptions(self, month: str) -> Iterator[ProviderSubscription]:
        """Subscriptions active in `month` ("YYYY-MM")."""
        ...

    def fetch_cdrs(self, month: str, *, checkpoints: bool = False
                   ) -> Iterator[ProviderCdr | BadRow | Checkpoint]:
        """The month's CDRs, streamed: parsed incrementally, never held whole.

        With `checkpoints`, `CHECKPOINT` appears where everything before it must be
        committed before the next item is asked for; without, it never appears.
        """
        ...

    def fetch_invoice_total(self, month: str) -> InvoiceTotal | None:
        """The provider's invoice total for `month`, or None if it reports none."""
        ...

    def close(self) -> None: ...


AdapterFactory = Callable[[ProfileConnection], ProviderAdapter]

_FACTORIES: dict[str, AdapterFactory] = {}
_BUILTIN_MODULES = ("providers.platforms", "providers.csvfile")


def register_adapter(platform: str, factory: AdapterFactory) -> None:
    """Make `open_adapter` build `platform` connections with `factory`."""
    if platform in _FACTORIES:
        raise ValueError(f"adapter for {platform!r} registered twice")
    _FACTORIES[platform] = factory


def open_adapter(conn: ProfileConnection) -> ProviderAdapter:
    """The adapter for the connection's platform (the caller closes it)."""
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    try:
        factory = _FACTORIES[conn.platform]
    except KeyError:
        raise ValueError(f"unknown provider platform {conn.platform!r}") from None
    return factory(conn)


def parse_cdr_file(stream: BinaryIO) -> Iterable[ProviderCdr | BadRow | Checkpoint]:
    """The records of a generic CSV CDR file (docs/formats/cdr-csv.md; gzip too), as
    `expensis cdr import` reads it: what core uses to import a file again (a failure's retry).
    The parser is loaded as `open_adapter` loads the built-in adapters: core depends on this
    module alone."""
    parse: Callable[[BinaryIO], Iterable[ProviderCdr | BadRow | Checkpoint]] = \
        importlib.import_module("providers.csvformat").parse_cdr_csv
    return parse(stream)


# -- the add-on platform (Routit's Nina) ------------------------------------------

from providers.limits import NINA_RATE_LIMIT as NINA_RATE_LIMIT  # noqa: E402  (re-exported)
from providers.limits import NINA_WINDOW_S as NINA_WINDOW_S  # noqa: E402


@dataclass(frozen=True)
class AddonType:
    code: str
    name: str
    monthly_fee: Decimal
    description: str = ""


class AddonClient(Protocol):
    """One customer's session on the add-on platform; a context manager that closes it."""

    def __enter__(self) -> AddonClient: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def list_addon_types(self) -> list[AddonType]: ...

    def activate(self, number: str, addon_code: str) -> str: ...

    def cancel(self, number: str, addon_code: str) -> str: ...


AddonClientFactory = Callable[[ProfileConnection], AddonClient]


def open_nina(conn: ProfileConnection) -> AddonClient:
    """Routit's Nina client for the connection (the caller closes it)."""
    client: AddonClientFactory = importlib.import_module("providers.routit_nina").NinaClient
    return client(conn)


def check_month(month: str) -> tuple[int, int]:
    """Split "YYYY-MM" into (year, month); ValueError if it is not one."""
    if len(month) != 7 or month[4] != "-" or not (month[:4] + month[5:]).isdigit():
        raise ValueError(f"month must be 'YYYY-MM', not {month!r}")
    year, number = int(month[:4]), int(month[5:])
    if not 1 <= number <= 12:
        raise ValueError(f"month must be 'YYYY-MM', not {month!r}")
    return year, number
