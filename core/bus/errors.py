"""Which failures are worth retrying. Handlers raise; the bus classifies."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, OperationalError


class TransientError(Exception):
    """Retry later: the world may be different then (a timeout, a busy provider)."""

    transient = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """Retrying cannot help (bad data, invalid credentials): fail at once."""

    transient = False


class LeaseLost(Exception):
    """Our lease expired and another worker took the message: our work is rolled back."""


@dataclass(frozen=True)
class Verdict:
    transient: bool
    retry_after: float | None = None


_TRANSIENT_NAMES = {"TimeoutException", "TransportError", "ConnectError", "ReadTimeout",
                    "RemoteProtocolError", "NetworkError", "PoolTimeout"}


def classify(exc: BaseException) -> Verdict:
    retry_after = getattr(exc, "retry_after", None)
    flag = getattr(exc, "transient", None)
    if isinstance(flag, bool):
        return Verdict(flag, retry_after)
    if isinstance(exc, TimeoutError | ConnectionError):
        return Verdict(True)
    if isinstance(exc, DBAPIError):
        return Verdict(is_transient_db_error(exc))
    if any(c.__name__ in _TRANSIENT_NAMES for c in type(exc).__mro__):
        return Verdict(True)
    return Verdict(False)


# MySQL/MariaDB: lock wait timeout, deadlock, server gone, lost connection, can't connect, too many.
_TRANSIENT_MYSQL_CODES = {1205, 1213, 2006, 2013, 2003, 1040, 1927}


def is_transient_db_error(exc: DBAPIError) -> bool:
    """Lock timeouts, deadlocks and lost connections pass; a missing table does not."""
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    code = orig.args[0] if orig is not None and orig.args else None
    if isinstance(code, int) and code in _TRANSIENT_MYSQL_CODES:
        return True
    text = str(orig).lower()
    return isinstance(exc, OperationalError) and ("locked" in text or "busy" in text)


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """Delay before attempt `attempts + 1`: base × 2^(attempts-1), capped."""
    return float(min(cap, base * (2 ** max(0, attempts - 1))))
