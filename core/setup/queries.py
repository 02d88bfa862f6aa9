"""Small read-only listings of the setup, for the CLI and the console."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from core.db import Database
from core.models import Customer, Partner, RatePlan, Subscription, Tariff


@dataclass(frozen=True)
class _Row:
    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PartnerRow(_Row):
    name: str
    customers: int


@dataclass(frozen=True)
class RatePlanRow(_Row):
    name: str
    monthly_fee: Decimal
    voice_bundle_minutes: int
    sms_bundle: int
    data_bundle_mb: int
    tariffs: int
    subscriptions: int
    voice_increment: str = "60/60"  # the scheme "a/b" the plan bills calls by


@dataclass(frozen=True)
class CustomerRow(_Row):
    code: str
    name: str
    partner: str | None
    language: str
    billing_day: int
    rateplan_customer: bool
    active: bool
    subscriptions: int


@dataclass(frozen=True)
class SubscriptionRow(_Row):
    number: str
    customer: str
    rate_plan: str | None
    provider: str | None
    cost_centre: str | None
    start_date: date | None
    end_date: date | None


def _counts(db: Database, column: Any) -> dict[int, int]:
    with db.reader() as session:
        rows = session.execute(select(column, func.count()).group_by(column)).all()
    return {int(key): int(n) for key, n in rows if key is not None}


def list_partners(db: Database) -> list[PartnerRow]:
    customers = _counts(db, Customer.partner_id)
    with db.reader() as session:
        partners = session.scalars(select(Partner)).all()
    return sorted((PartnerRow(p.name, customers.get(p.id, 0)) for p in partners),
                  key=lambda r: r.name)


def list_rate_plans(db: Database) -> list[RatePlanRow]:
    tariffs = _counts(db, Tariff.rate_plan_id)
    subscriptions = _counts(db, Subscription.rate_plan_id)
    with db.reader() as session:
        plans = session.scalars(select(RatePlan)).all()
    return sorted((RatePlanRow(p.name, p.monthly_fee, p.voice_bundle_minutes, p.sms_bundle,
                               p.data_bundle_mb, tariffs.get(p.id, 0), subscriptions.get(p.id, 0),
                               f"{p.voice_first_s or p.voice_increment_s}/{p.voice_increment_s}")
                   for p in plans), key=lambda r: r.name)


def list_customers(db: Database) -> list[CustomerRow]:
    subscriptions = _counts(db, Subscription.customer_id)
    with db.reader() as session:
        rows = session.execute(select(Customer, Partner.name).outerjoin(Partner)).all()
    return sorted((CustomerRow(c.code, c.name, partner, c.language, c.billing_day,
                               c.rateplan_customer, c.active, subscriptions.get(c.id, 0))
                   for c, partner in rows), key=lambda r: r.code)


def list_subscriptions(db: Database, customer_code: str | None = None) -> list[SubscriptionRow] | None:
    """All subscriptions, or one customer's; None when that customer does not exist."""
    query = (select(Subscription, Customer.code, RatePlan.name)
             .join(Customer, Subscription.customer_id == Customer.id)
             .outerjoin(RatePlan, Subscription.rate_plan_id == RatePlan.id))
    with db.reader() as session:
        if customer_code is not None:
            customer_id = session.scalar(select(Customer.id).where(Customer.code == customer_code))
            if customer_id is None:
                return None
            query = query.where(Subscription.customer_id == customer_id)
        rows = session.execute(query).all()
    return sorted((SubscriptionRow(s.number, code, plan, s.provider, s.cost_centre,
                                   s.start_date, s.end_date) for s, code, plan in rows),
                  key=lambda r: (r.customer, r.number))
