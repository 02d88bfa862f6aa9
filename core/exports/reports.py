"""The queries behind the exports, and the reports built from them.

CDRs are streamed from the database (server-side cursor on MariaDB, `yield_per`
batches everywhere) in (call type, call date) order, so a month of CDRs is never
held in memory; the writers in `excel.py` and `csv_writer.py` stream them on to disk.
The smaller reports (usage, insights, cost centres) work on totals: a few rows per
subscription.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from core.billing.lines import UsageTotal
from core.billing.specification import SpecificationLine, cycle_specification
from core.db import Database
from core.exports.csv_writer import write_csv
from core.exports.excel import (
    DATE_FORMAT,
    INTEGER_FORMAT,
    MONEY_FORMAT,
    PROGRESS_EVERY,
    Column,
    ExportCdr,
    Progress,
    write_customer_excel,
    write_rows_excel,
)
from core.insights import list_insights
from core.models import FEE_CALL_TYPE, Cdr, CdrRating, Customer, RatePlan, Subscription
from core.month import Month
from core.totals import TotalRow, active_days, compute_totals, current_totals, cycle_of

ZERO = Decimal("0.0000")
STREAM_BATCH = 2000
CDR_CSV_COLUMNS = ("number", "call_date", "call_type", "destination", "duration_s", "volume_kb",
                   "provider_cost", "rated_amount", "cost_centre")
MB = Decimal(1024)


def count_cdrs(db: Database, customer_id: int, cycle_start: date) -> int:
    with db.reader() as session:
        return int(session.scalar(select(func.count()).select_from(Cdr).where(
            Cdr.customer_id == customer_id, Cdr.cycle_start_date == cycle_start)) or 0)


def stream_cdrs(db: Database, customer: Customer, cycle_start: date, *,
                batch: int = STREAM_BATCH) -> Iterator[ExportCdr]:
    """The cycle's CDRs ordered by call type and call date, fetched `batch` rows at a time.

    The rated amount is what the totals bill: the rating's amount for rate-plan
    customers, the provider's price for the others.
    """
    query = (select(Cdr.number, Cdr.call_date, Cdr.call_type, Cdr.destination, Cdr.duration_s,
                    Cdr.volume_kb, Cdr.provider_cost, CdrRating.rated_amount, Subscription.cost_centre)
             .join(Subscription, Subscription.id == Cdr.subscription_id)
             .outerjoin(CdrRating, (CdrRating.customer_id == Cdr.customer_id)
                        & (CdrRating.cycle_start_date == Cdr.cycle_start_date) & (CdrRating.cdr_id == Cdr.id))
             .where(Cdr.customer_id == customer.id, Cdr.cycle_start_date == cycle_start)
             .order_by(Cdr.call_type, Cdr.call_date, Cdr.id)
             .execution_options(yield_per=batch, stream_results=True))
    rated_by_plan = customer.rateplan_customer
    with db.reader() as session:
        for number, when, call_type, destination, duration, volume, cost, rated, centre in session.execute(query):
            amount = (rated if rated is not None else ZERO) if rated_by_plan else cost
            yield ExportCdr(number, when, call_type, destination, duration, volume, cost, amount, centre)


def usage_totals(db: Database, customer: Customer, cycle_start: date) -> list[UsageTotal]:
    """The cycle's totals per subscription and call type (fees included, as call type "fee").

    Before totals were ever calculated, the CDRs are summed instead.
    """
    with db.reader() as session:
        numbers = dict(session.execute(select(Subscription.id, Subscription.number)
                                       .where(Subscription.customer_id == customer.id)).all())
        rows = current_totals(session, customer.id, cycle_start)
        if not rows:
            rows = compute_totals(session, customer, cycle_start)  # what a calculation would store
    return [UsageTotal(numbers.get(r.subscription_id, str(r.subscription_id)), r.call_type, r.count,
                       r.duration_s, r.volume_kb, r.rated_amount) for r in rows]


def with_progress(rows: Iterable[Sequence[object]], progress: Progress | None,
                  every: int = PROGRESS_EVERY) -> Iterator[Sequence[object]]:
    count = 0
    for row in rows:
        yield row
        count += 1
        if progress is not None and count % every == 0:
            progress(count)
    if progress is not None:
        progress(count)


def cdr_csv_rows(cdrs: Iterable[ExportCdr]) -> Iterator[Sequence[object]]:
    for c in cdrs:
        yield (c.number, c.call_date.replace(tzinfo=None), c.call_type, c.destination, c.duration_s,
               c.volume_kb, c.provider_cost, c.rated_amount, c.cost_centre)


# -- the reports -------------------------------------------------------------------------------

def title_of(customer: Customer, cycle_start: date, what: str) -> str:
    return f"{customer.name} ({customer.code}) - {what} {Month.of(cycle_start)}"


def write_cdr_excel(db: Database, customer: Customer, cycle_start: date, path: Path,
                    progress: Progress | None = None) -> int:
    """The customer workbook: Totals sheet, then one CDR sheet per call type."""
    language = "en" if customer.language == "en" else "nl"
    specification: list[SpecificationLine] = []
    if customer.specification:
        with db.reader() as session:
            specification = cycle_specification(session, customer.id, cycle_start, language)
    return write_customer_excel(path, title=title_of(customer, cycle_start, "CDRs"),
                                cdrs=stream_cdrs(db, customer, cycle_start),
                                totals=usage_totals(db, customer, cycle_start), progress=progress,
                                language=language, specification=specification)


def write_cdr_csv(db: Database, customer: Customer, cycle_start: date, path: Path,
                  progress: Progress | None = None) -> int:
    return write_csv(path, CDR_CSV_COLUMNS,
                     with_progress(cdr_csv_rows(stream_cdrs(db, customer, cycle_start)), progress),
                     escape_formulas=True)


@dataclass(frozen=True)
class SubscriptionUsage:
    number: str
    cost_centre: str
    plan: str
    start_date: date | None
    end_date: date | None
    active_days: int
    voice_minutes: Decimal
    incoming_minutes: Decimal  # incoming calls (voice_in), billed when roaming outside the EU/EEA
    sms: int
    data_mb: Decimal
    fee: Decimal
    usage: Decimal
    provider_cost: Decimal

    @property
    def total(self) -> Decimal:
        return self.fee + self.usage


def _minutes(row: TotalRow | None) -> Decimal:
    return (Decimal(row.duration_s) / 60).quantize(Decimal("0.01")) if row else ZERO


def subscription_usage(db: Database, customer: Customer, cycle_start: date) -> list[SubscriptionUsage]:
    """Per subscription of the cycle: usage, fee, rated amount and provider cost (from totals)."""
    cycle = cycle_of(customer, cycle_start)
    with db.reader() as session:
        subs = session.execute(
            select(Subscription, RatePlan.name).outerjoin(RatePlan, RatePlan.id == Subscription.rate_plan_id)
            .where(Subscription.customer_id == customer.id).order_by(Subscription.number)).all()
        totals: dict[int, list[TotalRow]] = defaultdict(list)
        for row in current_totals(session, customer.id, cycle_start):
            totals[row.subscription_id].append(row)
    result = []
    for sub, plan in subs:
        rows = totals.get(sub.id, [])
        days = active_days(sub, cycle)
        if days == 0 and not rows:
            continue
        by_type = {r.call_type: r for r in rows}
        sms, data = by_type.get("sms"), by_type.get("data")
        fee = sum((r.rated_amount for r in rows if r.call_type == FEE_CALL_TYPE), ZERO)
        usage = sum((r.rated_amount for r in rows if r.call_type != FEE_CALL_TYPE), ZERO)
        result.append(SubscriptionUsage(
            number=sub.number, cost_centre=sub.cost_centre or "", plan=plan or "", start_date=sub.start_date,
            end_date=sub.end_date, active_days=days,
            voice_minutes=_minutes(by_type.get("voice")), incoming_minutes=_minutes(by_type.get("voice_in")),
            sms=sms.count if sms else 0,
            data_mb=(Decimal(data.volume_kb) / MB).quantize(Decimal("0.01")) if data else ZERO,
            fee=fee, usage=usage, provider_cost=sum((r.provider_cost for r in rows), ZERO)))
    return result


def money(title: str) -> Column:
    return Column(title, MONEY_FORMAT, 14)


USAGE_COLUMNS = (Column("Voice (min)", "#,##0.00", 12), Column("Incoming (min)", "#,##0.00", 14),
                 Column("SMS", INTEGER_FORMAT, 8), Column("Data (MB)", "#,##0.00", 12))


def usage_sums(usage: Sequence[SubscriptionUsage]) -> tuple[object, ...]:
    """Voice and incoming minutes, SMS, data MB, fee, usage and total of some subscriptions."""
    return (sum((u.voice_minutes for u in usage), ZERO), sum((u.incoming_minutes for u in usage), ZERO),
            sum(u.sms for u in usage), sum((u.data_mb for u in usage), ZERO),
            sum((u.fee for u in usage), ZERO), sum((u.usage for u in usage), ZERO),
            sum((u.total for u in usage), ZERO))


def write_usage_report(db: Database, customer: Customer, cycle_start: date, path: Path,
                       progress: Progress | None = None) -> int:
    """Customer usage report: one row per subscription, with a total row."""
    usage = subscription_usage(db, customer, cycle_start)
    columns = [Column("Number", width=16), Column("Cost centre", width=18), Column("Rate plan", width=20),
               *USAGE_COLUMNS, money("Fee"), money("Usage"), money("Total")]
    rows: list[Sequence[object]] = [
        (u.number, u.cost_centre, u.plan, u.voice_minutes, u.incoming_minutes, u.sms, u.data_mb, u.fee,
         u.usage, u.total)
        for u in usage]
    rows.append(("Total", None, None, *usage_sums(usage)))
    return write_rows_excel(path, {"Usage": (columns, rows)},
                            title=title_of(customer, cycle_start, "usage"), progress=progress)


def write_insight_report(db: Database, customer: Customer, cycle_start: date, path: Path,
                         progress: Progress | None = None) -> int:
    """Billing insight report: the cycle's insights, and margin per subscription."""
    with db.reader() as session:
        numbers = dict(session.execute(select(Subscription.id, Subscription.number)
                                       .where(Subscription.customer_id == customer.id)).all())
        insights = [(i.severity, i.kind, numbers.get(i.subscription_id or 0, ""), i.message, i.score)
                    for i in list_insights(session, customer.id, cycle_start)]
    usage = subscription_usage(db, customer, cycle_start)
    margin_rows = [(u.number, u.cost_centre, u.total, u.provider_cost, u.total - u.provider_cost)
                   for u in usage]
    sheets: dict[str, tuple[Sequence[str | Column], Iterable[Sequence[object]]]] = {
        "Insights": ([Column("Severity", width=9), Column("Kind", width=16), Column("Subscription", width=16),
                      Column("Message", width=80), Column("Score", "0.0000", 10)], insights),
        "Margin": ([Column("Subscription", width=16), Column("Cost centre", width=18),
                    money("Rated"), money("Provider cost"),
                    money("Margin")], margin_rows),
    }
    return write_rows_excel(path, sheets, title=title_of(customer, cycle_start, "billing insights"),
                            progress=progress)


def write_cost_centre_export(db: Database, customer: Customer, cycle_start: date, path: Path,
                             progress: Progress | None = None) -> int:
    """Cost-centre export for a month: the settings (which number is on which cost centre) and totals."""
    usage = subscription_usage(db, customer, cycle_start)
    per_centre: dict[str, list[SubscriptionUsage]] = defaultdict(list)
    for u in usage:
        per_centre[u.cost_centre].append(u)
    centre_rows = [(centre or "(none)", len(items), *usage_sums(items))
                   for centre, items in sorted(per_centre.items())]
    settings_rows = [(u.number, u.cost_centre, u.plan, u.start_date, u.end_date) for u in usage]
    sheets: dict[str, tuple[Sequence[str | Column], Iterable[Sequence[object]]]] = {
        "Cost centres": ([Column("Cost centre", width=20), Column("Subscriptions", INTEGER_FORMAT, 13),
                          *USAGE_COLUMNS, money("Fees"), money("Usage"), money("Total")], centre_rows),
        "Subscriptions": ([Column("Number", width=16), Column("Cost centre", width=20),
                           Column("Rate plan", width=20), Column("Start", DATE_FORMAT, 12),
                           Column("End", DATE_FORMAT, 12)], settings_rows),
    }
    return write_rows_excel(path, sheets, title=title_of(customer, cycle_start, "cost centres"),
                            progress=progress)


Writer = Callable[[Database, Customer, date, Path, Progress | None], int]

#: Export kinds: (writer, file suffix). The kind is stored on the export job.
REPORTS: dict[str, tuple[Writer, str]] = {
    "excel": (write_cdr_excel, "xlsx"),
    "csv": (write_cdr_csv, "csv"),
    "usage": (write_usage_report, "xlsx"),
    "insights": (write_insight_report, "xlsx"),
    "cost_centres": (write_cost_centre_export, "xlsx"),
}
