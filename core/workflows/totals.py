"""Totals workflow: DispatchTotals routes to the chain of the source system.

rate-plan customers: CalculateTotalsRateplan → BillingInsightTotals → SaveStatus
                     → DispatchTotalsBackup
others:              CalculateTotals → BillingInsightTotals → SaveStatus → DispatchTotalsBackup

CalculateTotalsRateplan rates the cycle and replaces its totals in one transaction, the
totals summed in the rating pass (issue 14.1): no second read of 20,000 ratings, and new
ratings never stand beside old totals. The source system's separate CalculateTotals step
remains for customers billed the provider's price.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core import insights, totals
from core.bus import Bus, Command, Dispatched, HandlerContext
from core.month import Month
from core.workflows import roaming_caps


@dataclass(frozen=True)
class CycleCommand(Command, abstract=True):
    """A step of the totals workflow of one customer-cycle."""

    customer_id: int
    cycle_start_date: date


@dataclass(frozen=True)
class DispatchTotals(CycleCommand):
    """Start the chain of steps the customer's kind (rate-plan or not) takes."""

    trigger: str = "sync"
    operator: str = ""  # who asked, when an operator did

    @property
    def cause(self) -> str:
        """What the totals history says caused the version: "sync", "recalculation by alice"."""
        return f"{self.trigger} by {self.operator}" if self.operator else self.trigger


@dataclass(frozen=True)
class CalculateTotalsRateplan(CycleCommand):
    """Rate the cycle's CDRs on the customer's rate plan and replace its totals with the sums."""

    cause: str = "sync"


@dataclass(frozen=True)
class CalculateTotals(CycleCommand):
    """Add up the cycle's CDRs into totals per subscription and call type."""

    cause: str = "sync"


@dataclass(frozen=True)
class BillingInsightTotals(CycleCommand):
    """Compute the cycle's billing insights (and send bill-shock notices)."""


@dataclass(frozen=True)
class SaveStatus(CycleCommand):
    """Mark the cycle's totals ready (no recalculation pending), with an optional note."""

    note: str | None = None


@dataclass(frozen=True)
class DispatchTotalsBackup(CycleCommand):
    """Snapshot the current version of the cycle's totals into their history."""


def totals_chain(customer_id: int, cycle_start: date, rateplan_customer: bool,
                 note: str | None = None, cause: str = "sync") -> list[Command]:
    first = CalculateTotalsRateplan(customer_id, cycle_start, cause) if rateplan_customer \
        else CalculateTotals(customer_id, cycle_start, cause)
    return [first, BillingInsightTotals(customer_id, cycle_start), SaveStatus(customer_id, cycle_start, note),
            DispatchTotalsBackup(customer_id, cycle_start)]


def dispatch_totals_router(cmd: DispatchTotals, ctx: HandlerContext) -> None:
    customer = totals.get_customer(ctx.session, cmd.customer_id)
    first, *rest = totals_chain(cmd.customer_id, cmd.cycle_start_date, customer.rateplan_customer,
                                cause=cmd.cause)
    ctx.route(first, chain=rest)


def calculate_totals_rateplan(cmd: CalculateTotalsRateplan, ctx: HandlerContext) -> None:
    rated = totals.rate_cycle(ctx.session, cmd.customer_id, cmd.cycle_start_date)
    totals.calculate_totals(ctx.session, cmd.customer_id, cmd.cycle_start_date, clock=ctx.clock, cause=cmd.cause,
                            usage=rated.usage, plans=rated.plans)


def calculate_totals(cmd: CalculateTotals, ctx: HandlerContext) -> None:
    totals.calculate_totals(ctx.session, cmd.customer_id, cmd.cycle_start_date, clock=ctx.clock, cause=cmd.cause)


def billing_insight_totals(cmd: BillingInsightTotals, ctx: HandlerContext) -> None:
    found = insights.compute_insights(ctx.session, cmd.customer_id, cmd.cycle_start_date)
    insights.replace_insights(ctx.session, cmd.customer_id, cmd.cycle_start_date, found)
    if any(i.kind == "bill_shock" for i in found):  # the mail side of the insight
        roaming_caps.dispatch_notices(ctx, cmd.customer_id, cmd.cycle_start_date)


def save_status(cmd: SaveStatus, ctx: HandlerContext) -> None:
    totals.save_status(ctx.session, cmd.customer_id, cmd.cycle_start_date, note=cmd.note)


def dispatch_totals_backup(cmd: DispatchTotalsBackup, ctx: HandlerContext) -> None:
    totals.backup_totals(ctx.session, cmd.customer_id, cmd.cycle_start_date, clock=ctx.clock)


def dispatch_totals(bus: Bus, customer_id: int, cycle_start: date, *, trigger: str = "sync",
                    workflow: str | None = None) -> Dispatched:
    return bus.dispatch(DispatchTotals(customer_id, cycle_start, trigger), workflow=workflow)


def request_recalculation(bus: Bus, customer_id: int, cycle_start: date, *, operator: str) -> Dispatched:
    """"Herbereken data": mark the customer-cycle, audit, dispatch the totals workflow.
    A cycle that has not begun is refused (`core.totals.CycleNotBegun`)."""
    from core.security import audit, roles

    with bus.db.transaction() as session:
        customer = totals.get_customer(session, customer_id)
        roles.require(session, operator, roles.Action.TOTALS_RECALCULATE, target=f"{customer.code} {Month.of(cycle_start)}")
        totals.refuse_unbegun(customer, cycle_start, bus.clock())
        totals.mark_recalc_requested(session, customer_id, cycle_start)
        audit.record(session, operator=operator, action=roles.Action.TOTALS_RECALCULATE,
                     target=f"{customer.code} {Month.of(cycle_start)}")
        return bus.dispatch(DispatchTotals(customer_id, cycle_start, "recalculation", operator),
                            session=session)


@dataclass(frozen=True)
class Recalculation:
    customer_id: int
    cycle_start_date: date
    workflow_id: str


def request_partner_recalculation(bus: Bus, partner_id: int, labels: list[str], *,
                                  operator: str) -> list[Recalculation]:
    """One DispatchTotals per active customer of the partner per month, in one transaction; none
    when one of those cycles has not begun (`core.totals.CycleNotBegun`)."""
    from core.lookup import cycle_start, partner_customers
    from core.models import Partner
    from core.security import audit, roles

    with bus.db.transaction() as session:
        partner = session.get_one(Partner, partner_id)
        target = f"{partner.name} {labels[0]}..{labels[-1]}" if labels else partner.name
        roles.require(session, operator, roles.Action.TOTALS_PARTNER_RECALCULATE, target=target)
        now = bus.clock()
        items = []
        for c in partner_customers(session, partner_id):
            for label in labels:
                start = cycle_start(c, label)
                totals.refuse_unbegun(c, start, now)
                items.append((c.id, start))
        started = [bus.dispatch(DispatchTotals(cid, start, "partner-recalculation", operator),
                                session=session)
                   for cid, start in items]
        audit.record(session, operator=operator, action=roles.Action.TOTALS_PARTNER_RECALCULATE, target=target,
                     detail=f"{len(started)} recalculation(s)")
    return [Recalculation(cid, start, handle.workflow_id)
            for (cid, start), handle in zip(items, started, strict=True)]
