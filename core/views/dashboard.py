"""Figures for the dashboard: last sync per provider, CDRs per call day and per import day,
failures, the lease, and the roaming caps reached (bill shock)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select

from core.db import Database
from core.insights import bill_shock
from core.models import (
    BillingInsight,
    Cdr,
    Customer,
    ImportBatch,
    SchedulerLease,
    Subscription,
    SyncProfile,
    SyncTask,
)
from core.rating.caps import CapStatus
from core.views.failures import Failure, list_failures


@dataclass(frozen=True)
class ProviderSync:
    provider: str
    profiles: int
    active: int
    last_sync_at: datetime | None
    last_status: str | None
    last_reason: str | None
    last_customer: str | None


@dataclass(frozen=True)
class Lease:
    holder: str
    expires_at: datetime


def provider_syncs(db: Database) -> list[ProviderSync]:
    """Every provider with profiles: how many, and its most recent sync task."""
    counts = (select(SyncProfile.provider, func.count(),
                     func.sum(case((SyncProfile.active.is_(True), 1), else_=0)))
              .group_by(SyncProfile.provider))
    latest = (select(SyncProfile.provider, func.max(SyncTask.id).label("task_id"))
              .join(SyncTask, SyncTask.sync_profile_id == SyncProfile.id)
              .group_by(SyncProfile.provider).subquery())
    last = (select(latest.c.provider, SyncTask.updated_at, SyncTask.status, SyncTask.reason, Customer.code)
            .join(SyncTask, SyncTask.id == latest.c.task_id)
            .join(Customer, Customer.id == SyncTask.customer_id))
    with db.reader() as session:
        totals = {str(p): (int(n), int(a or 0)) for p, n, a in session.execute(counts)}
        tasks = {str(r[0]): r[1:] for r in session.execute(last)}
    rows = []
    for provider in sorted(totals):
        n, active = totals[provider]
        at, status, reason, code = tasks.get(provider, (None, None, None, None))
        rows.append(ProviderSync(provider, n, active, at, status, reason, code))
    return rows


def local_days(today: date, zone: ZoneInfo, days: int) -> list[datetime]:
    """The starts of `days` local days ending with `today`, and the end of today: days + 1 bounds
    (a day with a daylight-saving change is 23 or 25 hours long)."""
    first = today - timedelta(days=days - 1)
    return [datetime.combine(first + timedelta(days=n), time(0), tzinfo=zone) for n in range(days + 1)]


def cdrs_per_call_day(db: Database, today: date, zone: ZoneInfo, days: int = 14) -> list[int]:
    """CDRs per local day of the call, oldest first, ending with `today`: one statement of a
    count per day, each a range of ix_cdr_call_date; the CDRs themselves are never read."""
    bounds = local_days(today, zone, days)
    per_day = [select(func.count()).where(Cdr.call_date >= start, Cdr.call_date < end).scalar_subquery()
               for start, end in zip(bounds, bounds[1:], strict=False)]  # each an index range count
    with db.reader() as session:
        row = session.execute(select(*per_day)).one()
    return [int(n or 0) for n in row]


def imports_per_day(db: Database, today: date, zone: ZoneInfo, days: int = 14) -> list[int]:
    """CDRs imported per local day, oldest first, ending with `today`."""
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time(0), tzinfo=zone)
    query = select(ImportBatch.created_at, ImportBatch.imported).where(ImportBatch.created_at >= since)
    counts = [0] * days
    with db.reader() as session:
        for created_at, imported in session.execute(query):
            index = (created_at.astimezone(zone).date() - first).days
            if 0 <= index < days:
                counts[index] += int(imported or 0)
    return counts


def latest_failures(db: Database, limit: int = 5) -> list[Failure]:
    """The most recent open failures (syncs, steps, exports, add-on requests)."""
    return list_failures(db, limit=limit)


def scheduler_lease(db: Database) -> Lease | None:
    """Who holds the scheduler lease (read from the table, for when no service runs here)."""
    query = select(SchedulerLease.holder, SchedulerLease.expires_at).order_by(
        SchedulerLease.expires_at.desc()).limit(1)
    with db.reader() as session:
        row = session.execute(query).first()
    return Lease(str(row[0]), row[1]) if row is not None else None


@dataclass(frozen=True)
class CapAlert:
    """A subscription at 80 % or 100 % of its roaming data cap in its customer's latest cycle."""

    customer_code: str
    cycle_start: date
    number: str
    status: CapStatus

    @property
    def level(self) -> int:
        return self.status.levels[-1]


def roaming_cap_alerts(db: Database) -> list[CapAlert]:
    """Bill-shock levels reached in each customer's latest cycle, the highest first.

    The cycles come from the stored `bill_shock` insights; the levels from
    `core.insights.bill_shock`, the same function behind the insight and the mail.
    """
    latest = (select(BillingInsight.customer_id, func.max(BillingInsight.cycle_start_date).label("cycle"))
              .group_by(BillingInsight.customer_id).subquery())
    flagged = (select(BillingInsight.customer_id, BillingInsight.cycle_start_date).distinct()
               .join(latest, (latest.c.customer_id == BillingInsight.customer_id)
                     & (latest.c.cycle == BillingInsight.cycle_start_date))
               .where(BillingInsight.kind == "bill_shock"))
    alerts = []
    with db.reader() as session:
        for customer_id, cycle_start in session.execute(flagged).all():
            customer = session.get_one(Customer, customer_id)
            found = bill_shock(session, customer, cycle_start)
            numbers = dict(session.execute(select(Subscription.id, Subscription.number)
                                           .where(Subscription.id.in_(found))).all())
            alerts += [CapAlert(customer.code, cycle_start, numbers.get(sub_id, str(sub_id)), status)
                       for sub_id, status in found.items()]
    return sorted(alerts, key=lambda a: (-a.level, -a.status.spent, a.customer_code, a.number))


def first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""
