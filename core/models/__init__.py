"""All tables, each loaded when first named (`from core.models import Invoice`), so that a
light command that reads one table does not build the other forty classes (issue 14.3).

Everything that needs every table loads them all first: mapping a relationship does
(`load_all` runs before SQLAlchemy configures the mappers), and so must a reader of
`Base.metadata` (migrations, schema tests): call `load_all()` before it."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Mapper

if TYPE_CHECKING:
    from core.models.addons import AddonLog, AddonType, RateLimitHit, SubscriptionAddon
    from core.models.base import Base, utcnow
    from core.models.billing import (
        CustomerCredit,
        ExportJob,
        Invoice,
        InvoiceCorrection,
        InvoiceCounter,
        InvoiceLine,
        InvoiceSpecificationLine,
        MailLog,
        Payment,
        RevenueLedger,
    )
    from core.models.cdr import Cdr, CdrCorrection, CdrRating, QuarantinedRow
    from core.models.ops import (
        AuditLog,
        Message,
        MessageAttempt,
        Operator,
        PausedCommand,
        SchedulerLease,
        SchedulerTick,
    )
    from core.models.party import (
        Customer,
        Partner,
        RatePlan,
        RatePlanBand,
        RatePlanPrice,
        RatePlanRoaming,
        RoamingZone,
        Subscription,
        Tariff,
    )
    from core.models.payments import CollectionBatch, CollectionItem
    from core.models.sync import ImportBatch, SyncProfile, SyncTask
    from core.models.totals import (
        FEE_CALL_TYPE,
        BillingInsight,
        CustomerStatus,
        Total,
        TotalCharge,
        TotalHistory,
        TotalsVersion,
    )

# Each name this package offers and the module that defines it.
_HOME: dict[str, str] = {
    "AddonLog": "core.models.addons",
    "AddonType": "core.models.addons",
    "AuditLog": "core.models.ops",
    "Base": "core.models.base",
    "BillingInsight": "core.models.totals",
    "Cdr": "core.models.cdr",
    "CdrCorrection": "core.models.cdr",
    "CdrRating": "core.models.cdr",
    "CollectionBatch": "core.models.payments",
    "CollectionItem": "core.models.payments",
    "Customer": "core.models.party",
    "CustomerCredit": "core.models.billing",
    "CustomerStatus": "core.models.totals",
    "ExportJob": "core.models.billing",
    "FEE_CALL_TYPE": "core.models.totals",
    "ImportBatch": "core.models.sync",
    "Invoice": "core.models.billing",
    "InvoiceCorrection": "core.models.billing",
    "InvoiceCounter": "core.models.billing",
    "InvoiceLine": "core.models.billing",
    "InvoiceSpecificationLine": "core.models.billing",
    "MailLog": "core.models.billing",
    "Message": "core.models.ops",
    "MessageAttempt": "core.models.ops",
    "Operator": "core.models.ops",
    "Partner": "core.models.party",
    "PausedCommand": "core.models.ops",
    "Payment": "core.models.billing",
    "QuarantinedRow": "core.models.cdr",
    "RateLimitHit": "core.models.addons",
    "RatePlan": "core.models.party",
    "RatePlanBand": "core.models.party",
    "RatePlanPrice": "core.models.party",
    "RatePlanRoaming": "core.models.party",
    "RevenueLedger": "core.models.billing",
    "RoamingZone": "core.models.party",
    "SchedulerLease": "core.models.ops",
    "SchedulerTick": "core.models.ops",
    "Subscription": "core.models.party",
    "SubscriptionAddon": "core.models.addons",
    "SyncProfile": "core.models.sync",
    "SyncTask": "core.models.sync",
    "Tariff": "core.models.party",
    "Total": "core.models.totals",
    "TotalCharge": "core.models.totals",
    "TotalHistory": "core.models.totals",
    "TotalsVersion": "core.models.totals",
    "utcnow": "core.models.base",
}


def load_all() -> None:
    """Import every model module: `Base.metadata` then holds every table."""
    for module in sorted(set(_HOME.values())):
        importlib.import_module(module)


# A relationship names its target class by string: every class must exist before the
# mappers are configured (on the first ORM query).
event.listen(Mapper, "before_configured", load_all)


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "FEE_CALL_TYPE", "AddonLog", "AddonType", "AuditLog", "Base", "BillingInsight", "Cdr", "CdrCorrection", "CdrRating", "CollectionBatch", "CollectionItem",
    "Customer", "CustomerCredit", "CustomerStatus", "ExportJob", "ImportBatch", "Invoice", "InvoiceCorrection", "InvoiceCounter",
    "InvoiceLine", "InvoiceSpecificationLine", "MailLog", "Message", "MessageAttempt", "Operator", "Partner", "PausedCommand", "Payment", "QuarantinedRow",
    "RateLimitHit", "RatePlan", "RatePlanBand", "RatePlanPrice", "RatePlanRoaming", "RoamingZone", "RevenueLedger", "SchedulerLease", "SchedulerTick",
    "Subscription", "SubscriptionAddon", "SyncProfile", "SyncTask", "Tariff", "Total",
    "TotalCharge", "TotalHistory", "TotalsVersion", "utcnow",
]
