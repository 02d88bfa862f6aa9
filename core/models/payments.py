"""SEPA direct-debit collections: one batch per pain.008 file, one item per collected invoice."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, BigId, utcnow


class CollectionBatch(Base):
    """A pain.008 file written under the data dir (nothing is sent anywhere)."""

    __tablename__ = "collection_batch"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(35), unique=True)
    collection_date: Mapped[date]
    item_count: Mapped[int] = mapped_column(default=0)
    total: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    path: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CollectionItem(Base):
    """One invoice in a batch. `open_invoice_id` is the invoice id while the collection stands
    (sent or paid) and NULL once it came back: UNIQUE on it means an invoice is never in two
    standing collections, whichever process builds the batch."""

    __tablename__ = "collection_item"
    __table_args__ = (Index("ix_collection_item_mandate", "mandate_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("collection_batch.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    open_invoice_id: Mapped[int | None] = mapped_column(unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    mandate_id: Mapped[str] = mapped_column(String(35))
    sequence_type: Mapped[str] = mapped_column(String(4))  # FRST or RCUR
    amount: Mapped[Decimal]
    end_to_end_id: Mapped[str] = mapped_column(String(35), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="sent")  # sent, returned
    return_reason: Mapped[str | None] = mapped_column(Text)
