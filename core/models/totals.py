"""Totals per customer, cycle, subscription and call type, their history, insights, status."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, CycleRow, utcnow

FEE_CALL_TYPE = "fee"  # the monthly-fee row of a subscription in the totals


class Usage:
    """One subscription's usage of one call type in a cycle, and its rated amount: the columns
    a total and each earlier version of it (TotalHistory) have alike."""

    call_type: Mapped[str] = mapped_column(String(8))
    count: Mapped[int] = mapped_column(default=0)
    duration_s: Mapped[int] = mapped_column(default=0)
    volume_kb: Mapped[int] = mapped_column(default=0)
    provider_cost: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    rated_amount: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    bundle_used: Mapped[int] = mapped_column(default=0)


class Total(CycleRow, Usage, Base):
    __tablename__ = "total"
    __table_args__ = (
        UniqueConstraint("customer_id", "cycle_start_date", "subscription_id", "call_type"),
    )
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id"))
    version: Mapped[int] = mapped_column(default=1)


class TotalHistory(CycleRow, Usage, Base):
    """Earlier versions of a customer-cycle's totals, kept before each replacement."""

    __tablename__ = "total_history"
    __table_args__ = (Index("ix_total_history_cycle", "customer_id", "cycle_start_date", "version"),)
    version: Mapped[int]
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id"))
    archived_at: Mapped[datetime] = mapped_column(default=utcnow)


class TotalsVersion(CycleRow, Base):
    """When each version of a customer-cycle's totals was calculated and what caused it."""

    __tablename__ = "totals_version"
    __table_args__ = (UniqueConstraint("customer_id", "cycle_start_date", "version"),)
    version: Mapped[int]
    calculated_at: Mapped[datetime] = mapped_column(default=utcnow)
    cause: Mapped[str] = mapped_column(String(80))  # "sync", "recalculation by alice", "invoice run", …


class BillingInsight(CycleRow, Base):
    __tablename__ = "billing_insight"
    __table_args__ = (Index("ix_billing_insight_cycle", "customer_id", "cycle_start_date"),)
    kind: Mapped[str] = mapped_column(String(32))
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscription.id"))
    severity: Mapped[str] = mapped_column(String(8), default="info")
    score: Mapped[Decimal | None]
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerStatus(CycleRow, Base):
    """Where a customer-cycle stands: last sync, totals version, pending recalculation."""

    __tablename__ = "customer_status"
    __table_args__ = (UniqueConstraint("customer_id", "cycle_start_date"),)
    status: Mapped[str] = mapped_column(String(24), default="new")
    totals_version: Mapped[int] = mapped_column(default=0)
    recalc_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    last_sync_at: Mapped[datetime | None]
    last_totals_at: Mapped[datetime | None]
    backed_up_version: Mapped[int] = mapped_column(default=0)
    note: Mapped[str | None] = mapped_column(Text)
    # The digest of the cycle's stored ratings as the last rating pass left them (core.totals:
    # `ratings_digest`), None when unknown. Only `rate_cycle` writes ratings; the one other change
    # to them, a corrected CDR's rating deleted (core.cdr_store), also clears this.
    ratings_digest: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TotalCharge(CycleRow, Base):
    """What a customer-cycle's rated usage consists of, per price: the invoice explains it.

    One row per subscription, call type and price (the plan's or a band's price beyond the
    bundle, a destination tariff, a roaming zone; per increment scheme and price version):
    usage inside the bundle and charged beyond it in the call
    type's unit (seconds, messages, KB), set-ups charged, and the rated amount, which is
    the sum of the CDRs' rated amounts. Written by `rate_cycle` from the engine's results.
    """

    __tablename__ = "total_charge"
    __table_args__ = (Index("ix_total_charge_cycle", "customer_id", "cycle_start_date"),)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id"))
    call_type: Mapped[str] = mapped_column(String(8))
    prefix: Mapped[str] = mapped_column(String(16), default="")  # "" = the plan's own price
    unit_price: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    setup_fee: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    count: Mapped[int] = mapped_column(default=0)
    in_bundle: Mapped[int] = mapped_column(default=0)
    charged: Mapped[int] = mapped_column(default=0)
    setups: Mapped[int] = mapped_column(default=0)
    rated_amount: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    zone: Mapped[str] = mapped_column(String(16), default="")  # roaming zone, "EU", "?"; "" at home
    band: Mapped[str] = mapped_column(String(40), default="")  # time band of the price
    increment: Mapped[str] = mapped_column(String(12), default="")  # voice scheme "a/b"
    minimum_charge: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    minimums: Mapped[int] = mapped_column(default=0)  # calls billed the minimum charge
    surcharge_per_mb: Mapped[Decimal] = mapped_column(default=Decimal("0"))  # EU data beyond fair use
    surcharged: Mapped[int] = mapped_column(default=0)  # KB beyond the EU fair-use volume
    first_day: Mapped[date | None]  # first and last call at this price
    last_day: Mapped[date | None]
    used: Mapped[int] = mapped_column(default=0)  # raw seconds / messages / KB, before increments
