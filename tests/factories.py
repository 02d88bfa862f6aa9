"""Small builders for billing setups and CDR files used across tests."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

from core.db import Database
from core.models import Customer, Partner, RatePlan, Subscription, Tariff

HEADER = ("provider_ref", "number", "call_date", "call_type", "destination", "duration_s",
          "volume_kb", "provider_cost")


def business_plan() -> RatePlan:
    """Fee €10, 10 min / 2 SMS / 1 MB bundle, €0.20/min, €0.10/SMS, €0.50/MB, 60 s increment,
    +44 voice at €1.00/min plus €0.25 set-up."""
    plan = RatePlan(name="Business 10", monthly_fee=Decimal("10.00"), voice_bundle_minutes=10,
                    sms_bundle=2, data_bundle_mb=1, price_per_minute=Decimal("0.20"),
                    price_per_sms=Decimal("0.10"), price_per_mb=Decimal("0.50"), voice_increment_s=60)
    plan.tariffs = [Tariff(prefix="+44", call_type="voice", price=Decimal("1.00"), setup_fee=Decimal("0.25"))]
    return plan


def make_setup(db: Database, *, billing_day: int = 1, rateplan_customer: bool = True,
               numbers: Sequence[str] = ("+31610000001", "+31610000002"),
               starts: Sequence[date | None] = (), code: str = "ACME", partner: str | None = "Partner A",
               plan: RatePlan | None = None) -> dict[str, int]:
    """A customer with subscriptions on one plan; returns ids by name/number."""
    ids: dict[str, int] = {}
    with db.transaction() as s:
        partner_row = None
        if partner:
            from sqlalchemy import select

            partner_row = s.scalars(select(Partner).where(Partner.name == partner)).first()
            if partner_row is None:
                partner_row = Partner(name=partner)
                s.add(partner_row)
                s.flush()
        if plan is None:
            from sqlalchemy import select

            plan = s.scalars(select(RatePlan).where(RatePlan.name == "Business 10")).first() or business_plan()
        s.add(plan)
        customer = Customer(code=code, name=f"{code} B.V.", billing_day=billing_day,
                            rateplan_customer=rateplan_customer,
                            partner_id=partner_row.id if partner_row else None)
        s.add(customer)
        s.flush()
        ids["customer"] = customer.id
        ids["plan"] = plan.id
        for i, number in enumerate(numbers):
            start = starts[i] if i < len(starts) else date(2025, 1, 1)
            sub = Subscription(customer_id=customer.id, number=number, rate_plan_id=plan.id,
                               start_date=start, cost_centre="Sales")
            s.add(sub)
            s.flush()
            ids[number] = sub.id
    return ids


def write_cdrs(path: Path, rows: Iterable[Sequence[object]], header: Sequence[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
