"""Is a customer-cycle ready to invoice? Complete cycles only, from fresh totals.

An invoice run checks each customer-cycle before anything is numbered. It is held, with
the reasons, when:

- the cycle has not ended (in the customer's time zone, billing day aware);
- an active provider profile has no completed sync for the cycle that ran after the cycle
  ended; a failed sync, a sync still running and a "totals anyway" sync (the totals were
  calculated with what was there after repeated failures) count as incomplete;
- a reconciliation difference (provider invoice vs CDRs) is open for the cycle.

`--force` (the operator role, audited) invoices such a cycle anyway. Totals that are
stale (CDRs, subscriptions or prices changed after they were computed) are not a hold:
the run recalculates them first (`core.billing.freshness`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import BillingInsight, Customer, SyncProfile, SyncTask
from core.rating.cycles import Cycle, cycle_for
from core.totals import customer_zone

COMPLETED, FAILED = "completed", "failed"


@dataclass(frozen=True)
class CycleCheck:
    customer_id: int
    customer_code: str
    cycle: Cycle
    reasons: tuple[str, ...]  # empty: ready to invoice

    @property
    def held(self) -> bool:
        return bool(self.reasons)


def last_ended_cycle(customer: Customer, today: date) -> Cycle:
    """The customer's last cycle that has ended by `today` (their local date)."""
    zone = customer_zone(customer)
    noon = datetime(today.year, today.month, today.day, 12, tzinfo=zone)
    current = cycle_for(noon, customer.billing_day, zone)
    return cycle_for(datetime.combine(current.start - timedelta(days=1), noon.timetz()),
                     customer.billing_day, zone)


def check_cycle(session: Session, customer: Customer, cycle: Cycle, *, now: datetime) -> CycleCheck:
    """Why the customer-cycle cannot be invoiced yet (no reasons: it can)."""
    zone = customer_zone(customer)
    end = cycle.end_utc(zone)
    reasons: list[str] = []
    if now < end:
        last_day = cycle.end - timedelta(days=1)
        reasons.append(f"cycle {cycle.label} runs until {last_day.isoformat()}: not ended")
    profiles = session.scalars(select(SyncProfile).where(SyncProfile.customer_id == customer.id,
                                                         SyncProfile.active.is_(True))
                               .order_by(SyncProfile.name)).all()
    for profile in profiles:
        task = session.scalars(select(SyncTask).where(SyncTask.sync_profile_id == profile.id,
                                                      SyncTask.cycle_start_date == cycle.start)
                               .order_by(SyncTask.created_at.desc(), SyncTask.id.desc())).first()
        reason = _sync_reason(task, end)
        if reason:
            reasons.append(f"profile {profile.name}: {reason}")
    reconciliation = session.scalars(select(BillingInsight.message).where(
        BillingInsight.customer_id == customer.id, BillingInsight.cycle_start_date == cycle.start,
        BillingInsight.kind == "reconciliation")).all()
    reasons.extend(f"open reconciliation difference: {message}" for message in reconciliation)
    return CycleCheck(customer.id, customer.code, cycle, tuple(reasons))


def _sync_reason(task: SyncTask | None, end: datetime) -> str | None:
    if task is None:
        return "no sync for the cycle"
    if task.status == FAILED:
        return f"last sync failed ({task.reason or 'unknown_error'})"
    if task.status != COMPLETED:
        return f"sync {task.status}"
    if task.totals_anyway:
        return "totals calculated anyway after failed syncs"
    if task.updated_at < end:
        return "last completed sync ran before the cycle ended"
    return None
