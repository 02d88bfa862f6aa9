"""All tables. Importing this package registers every model on `Base.metadata`."""

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

__all__ = [
    "FEE_CALL_TYPE", "AddonLog", "AddonType", "AuditLog", "Base", "BillingInsight", "Cdr", "CdrCorrection", "CdrRating", "CollectionBatch", "CollectionItem",
    "Customer", "CustomerCredit", "CustomerStatus", "ExportJob", "ImportBatch", "Invoice", "InvoiceCorrection", "InvoiceCounter",
    "InvoiceLine", "InvoiceSpecificationLine", "MailLog", "Message", "MessageAttempt", "Operator", "Partner", "PausedCommand", "Payment", "QuarantinedRow",
    "RateLimitHit", "RatePlan", "RatePlanBand", "RatePlanPrice", "RatePlanRoaming", "RoamingZone", "RevenueLedger", "SchedulerLease", "SchedulerTick",
    "Subscription", "SubscriptionAddon", "SyncProfile", "SyncTask", "Tariff", "Total",
    "TotalCharge", "TotalHistory", "TotalsVersion", "utcnow",
]
