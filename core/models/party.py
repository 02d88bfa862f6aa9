"""Partners, customers, subscriptions and rate plans: the setup an operator applies."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import Base, BigId, utcnow


class Partner(Base):
    """A reseller grouping customers (T-Mobile Calvi logins are per partner)."""

    __tablename__ = "partner"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Customer(Base):
    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id"), index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2), default="nl")
    billing_day: Mapped[int] = mapped_column(default=1)
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/Amsterdam")
    rateplan_customer: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    auto_send: Mapped[bool] = mapped_column(Boolean, default=False)
    test_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    specification: Mapped[bool] = mapped_column(Boolean, default=False)  # usage annex on invoices
    email: Mapped[str | None] = mapped_column(String(200))
    vat_number: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str] = mapped_column(String(2), default="NL")
    address: Mapped[str | None] = mapped_column(Text)
    # Bill-shock cap on data roaming outside the EU/EEA per subscription per cycle; 0: none.
    roaming_data_cap: Mapped[Decimal] = mapped_column(default=Decimal("50"))
    # Payment: `transfer` (pays by bank transfer) or `direct_debit` (SEPA Core, needs a mandate).
    payment_method: Mapped[str] = mapped_column(String(16), default="transfer")
    iban: Mapped[str | None] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    mandate_id: Mapped[str | None] = mapped_column(String(35))
    mandate_date: Mapped[date | None]
    mandate_blocked: Mapped[str | None] = mapped_column(String(200))  # why debits stopped (AC04...)
    reminder_days: Mapped[str | None] = mapped_column(String(32))  # "7,21,35"; None: the setting
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    partner: Mapped[Partner | None] = relationship()


class PlanRow:
    """A row of one rate plan (deleted with it): its own id, then the plan's."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, sort_order=-2)
    rate_plan_id: Mapped[int] = mapped_column(ForeignKey("rate_plan.id", ondelete="CASCADE"),
                                              sort_order=-1)


class RatePlan(Base):
    __tablename__ = "rate_plan"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    monthly_fee: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    voice_bundle_minutes: Mapped[int] = mapped_column(default=0)
    sms_bundle: Mapped[int] = mapped_column(default=0)
    data_bundle_mb: Mapped[int] = mapped_column(default=0)
    price_per_minute: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    price_per_sms: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    price_per_mb: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    voice_increment_s: Mapped[int] = mapped_column(default=60)  # the step b of "a/b"
    setup_fee: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    voice_first_s: Mapped[int | None] = mapped_column()  # the block a of "a/b"; None: "b/b"
    minimum_charge: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    eu_fair_use_gb: Mapped[Decimal | None] = mapped_column()  # EU roaming data before surcharge
    eu_surcharge_per_mb: Mapped[Decimal] = mapped_column(default=Decimal("0"))

    tariffs: Mapped[list[Tariff]] = relationship(
        back_populates="rate_plan", cascade="all, delete-orphan", order_by="Tariff.prefix"
    )
    prices: Mapped[list[RatePlanPrice]] = relationship(
        back_populates="rate_plan", cascade="all, delete-orphan", order_by="RatePlanPrice.valid_from"
    )
    bands: Mapped[list[RatePlanBand]] = relationship(
        back_populates="rate_plan", cascade="all, delete-orphan", order_by="RatePlanBand.name"
    )
    roaming: Mapped[list[RatePlanRoaming]] = relationship(
        back_populates="rate_plan", cascade="all, delete-orphan", order_by="RatePlanRoaming.zone"
    )


class RoamingZone(Base):
    """A named group of countries outside the EU/EEA (the EU/EEA zone is built in)."""

    __tablename__ = "roaming_zone"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(16), unique=True)
    countries: Mapped[str] = mapped_column(Text)  # "CH,US", ISO 3166 alpha-2, sorted


class RatePlanRoaming(PlanRow, Base):
    """A plan's prices in one roaming zone (by the zone's name)."""

    __tablename__ = "rate_plan_roaming"
    __table_args__ = (UniqueConstraint("rate_plan_id", "zone"),)
    zone: Mapped[str] = mapped_column(String(16))
    voice_out_per_min: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    voice_in_per_min: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    sms_per_message: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    data_per_mb: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    voice_first_s: Mapped[int | None] = mapped_column()
    voice_increment_s: Mapped[int] = mapped_column(default=60)

    rate_plan: Mapped[RatePlan] = relationship(back_populates="roaming")


class RatePlanBand(PlanRow, Base):
    """A time band: prices for calls and SMS starting on `days` between two local times."""

    __tablename__ = "rate_plan_band"
    __table_args__ = (UniqueConstraint("rate_plan_id", "name"),)
    name: Mapped[str] = mapped_column(String(40))
    days: Mapped[str] = mapped_column(String(40))  # "mon,tue,wed,thu,fri"
    start: Mapped[str] = mapped_column(String(5))  # "08:00", local time
    end: Mapped[str] = mapped_column(String(5))  # "19:00" (excluded); "24:00" is midnight
    price_per_minute: Mapped[Decimal | None] = mapped_column()
    price_per_sms: Mapped[Decimal | None] = mapped_column()

    rate_plan: Mapped[RatePlan] = relationship(back_populates="bands")


class RatePlanPrice(PlanRow, Base):
    """A dated price change of a plan: the fields it sets hold from `valid_from` (NULL: unchanged)."""

    __tablename__ = "rate_plan_price"
    __table_args__ = (UniqueConstraint("rate_plan_id", "valid_from"),)
    valid_from: Mapped[date]
    monthly_fee: Mapped[Decimal | None] = mapped_column()
    voice_bundle_minutes: Mapped[int | None] = mapped_column()
    sms_bundle: Mapped[int | None] = mapped_column()
    data_bundle_mb: Mapped[int | None] = mapped_column()
    price_per_minute: Mapped[Decimal | None] = mapped_column()
    price_per_sms: Mapped[Decimal | None] = mapped_column()
    price_per_mb: Mapped[Decimal | None] = mapped_column()
    voice_first_s: Mapped[int | None] = mapped_column()
    voice_increment_s: Mapped[int | None] = mapped_column()
    setup_fee: Mapped[Decimal | None] = mapped_column()
    minimum_charge: Mapped[Decimal | None] = mapped_column()

    rate_plan: Mapped[RatePlan] = relationship(back_populates="prices")


class Tariff(PlanRow, Base):
    """A destination tariff: longest prefix wins, priced outside the bundle."""

    __tablename__ = "tariff"
    __table_args__ = (UniqueConstraint("rate_plan_id", "prefix", "call_type", "valid_from"),)
    prefix: Mapped[str] = mapped_column(String(20))
    call_type: Mapped[str] = mapped_column(String(8))
    price: Mapped[Decimal]
    setup_fee: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    voice_first_s: Mapped[int | None] = mapped_column()  # "a/b" of its own; None: the plan's
    voice_increment_s: Mapped[int | None] = mapped_column()
    minimum_charge: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    valid_from: Mapped[date | None] = mapped_column()  # None: from the beginning

    rate_plan: Mapped[RatePlan] = relationship(back_populates="tariffs")


class Subscription(Base):
    __tablename__ = "subscription"
    __table_args__ = (Index("ix_subscription_customer", "customer_id", "number"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    number: Mapped[str] = mapped_column(String(20), unique=True)
    rate_plan_id: Mapped[int | None] = mapped_column(ForeignKey("rate_plan.id"))
    provider: Mapped[str | None] = mapped_column(String(32))
    cost_centre: Mapped[str | None] = mapped_column(String(64))
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    portation_date: Mapped[date | None]
    sim: Mapped[str | None] = mapped_column(String(32))
    imei: Mapped[str | None] = mapped_column(String(32))
    device_model: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship()
    rate_plan: Mapped[RatePlan | None] = relationship()
