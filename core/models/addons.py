"""Mobile add-ons (Routit Nina API), their log, and the shared rate limiter's ledger."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, BigId, utcnow


class AddonType(Base):
    __tablename__ = "addon_type"
    __table_args__ = (UniqueConstraint("provider", "code"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    monthly_price: Mapped[Decimal] = mapped_column(default=Decimal("0"))


class SubscriptionAddon(Base):
    """The add-on state as the provider last confirmed it."""

    __tablename__ = "subscription_addon"
    __table_args__ = (UniqueConstraint("subscription_id", "addon_code"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id"))
    addon_code: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AddonLog(Base):
    """One activate/cancel request: backlog → sent → succeeded/failed."""

    __tablename__ = "addon_log"
    __table_args__ = (Index("ix_addon_log_customer_status", "customer_id", "status"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id"))
    addon_code: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="backlog")
    attempts: Mapped[int] = mapped_column(default=0)
    not_before: Mapped[datetime | None]
    provider_request_id: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class RateLimitHit(Base):
    """One request slot taken in a limiter window; shared by every process on the database."""

    __tablename__ = "rate_limit_hit"
    __table_args__ = (UniqueConstraint("limiter_key", "window_start", "slot"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    limiter_key: Mapped[str] = mapped_column(String(120))
    window_start: Mapped[datetime]
    slot: Mapped[int]
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)
