"""Provider adapters: one declarative adapter per platform over one shared client.

`core` uses `open_adapter(ProfileConnection(...))` and the records and errors
defined in `providers.base`; `providers.sandbox` serves every platform's API
on loopback for the demo and the tests.
"""

from __future__ import annotations

from providers.base import (
    CHECKPOINT,
    PLATFORMS,
    BadData,
    BadRow,
    Checkpoint,
    InvalidCredentials,
    InvoiceNotYetAvailable,
    InvoiceTotal,
    ProfileConnection,
    ProviderAdapter,
    ProviderCdr,
    ProviderError,
    ProviderSubscription,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    open_adapter,
)

__all__ = [
    "CHECKPOINT",
    "PLATFORMS",
    "BadData",
    "BadRow",
    "Checkpoint",
    "InvalidCredentials",
    "InvoiceNotYetAvailable",
    "InvoiceTotal",
    "ProfileConnection",
    "ProviderAdapter",
    "ProviderCdr",
    "ProviderError",
    "ProviderSubscription",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "open_adapter",
]
