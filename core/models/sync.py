"""Sync profiles (how to sync a provider), sync tasks (one run) and import batches."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import Boolean, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import Base, BigId, utcnow
from core.models.party import Customer

# Statuses as stored (the DB holds these strings); mypy flags a comparison with a typo.
SyncTaskStatus = Literal["pending", "processing", "completed", "completed_with_warnings", "failed"]
ImportStatus = Literal["pending", "running", "completed", "failed"]

class SyncProfile(Base):
    __tablename__ = "sync_profile"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str] = mapped_column(String(500))
    customer_ref: Mapped[str] = mapped_column(String(64))
    credentials_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    interval_minutes: Mapped[int] = mapped_column(default=1440)
    next_sync_date: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship()


class SyncTask(Base):
    """One sync of one profile for one billing cycle (statuses from the source system)."""

    __tablename__ = "sync_task"
    __table_args__ = (Index("ix_sync_task_profile_status", "sync_profile_id", "status"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sync_profile_id: Mapped[int] = mapped_column(ForeignKey("sync_profile.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    cycle_start_date: Mapped[date]
    status: Mapped[SyncTaskStatus] = mapped_column(String(24), default="pending")  # ... completed_with_warnings
    reason: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    retries: Mapped[int] = mapped_column(default=0)
    totals_anyway: Mapped[bool] = mapped_column(Boolean, default=False)
    trigger: Mapped[str] = mapped_column(String(16), default="schedule")
    workflow_id: Mapped[str | None] = mapped_column(String(36), index=True)
    expected_cdrs: Mapped[int | None]
    received_cdrs: Mapped[int | None]
    provider_invoice_total: Mapped[Decimal | None]
    provider_cost_total: Mapped[Decimal | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    profile: Mapped[SyncProfile] = relationship()


class ImportBatch(Base):
    """The import queue: one file or provider download on its way into the CDR table."""

    __tablename__ = "import_batch"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sync_task_id: Mapped[int | None] = mapped_column(ForeignKey("sync_task.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(500))
    status: Mapped[ImportStatus] = mapped_column(String(16), default="pending")
    rows_read: Mapped[int] = mapped_column(default=0)
    imported: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    quarantined: Mapped[int] = mapped_column(default=0)
    corrected: Mapped[int] = mapped_column(default=0)  # provider corrections of CDRs already stored
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]  # last committed batch: the reaper's sign of progress
    # JSON [[customer_id, "YYYY-MM-DD"], ...]: the customer-cycles its committed CDRs fall in.
    touched_cycles: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]
