"""The rating engine: pure functions that price CDRs under a rate plan, and billing cycles.

No database and no I/O: callers load plans and CDRs, rate them here, and store the result.
"""

from __future__ import annotations

from core.rating.cycles import Cycle, cycle_for, cycle_for_label, month_labels
from core.rating.engine import (
    CallTypeTotals,
    RatableCdr,
    RatedCdr,
    SubscriptionRating,
    prorate_fee,
    rate_subscription_cycle,
)
from core.rating.history import PriceChange, PriceHistory
from core.rating.plan import (
    CallType,
    DestinationTariff,
    Increment,
    RatePlan,
    TariffMatcher,
    normalise_number,
)

__all__ = [
    "CallType",
    "CallTypeTotals",
    "Cycle",
    "DestinationTariff",
    "Increment",
    "PriceChange",
    "PriceHistory",
    "RatableCdr",
    "RatePlan",
    "RatedCdr",
    "SubscriptionRating",
    "TariffMatcher",
    "cycle_for",
    "cycle_for_label",
    "month_labels",
    "normalise_number",
    "prorate_fee",
    "rate_subscription_cycle",
]
