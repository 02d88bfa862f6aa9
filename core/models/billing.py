"""Invoices, their lines and numbering, payments, the revenue ledger, mail and export jobs."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import Base, BigId, CycleRow, utcnow

ExportStatus = Literal["pending", "running", "completed", "failed"]  # an export job's, as stored

class Invoice(Base):
    __tablename__ = "invoice"
    __table_args__ = (
        UniqueConstraint("issuer", "number"),
        Index("ix_invoice_customer_cycle", "customer_id", "cycle_start_date"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    cycle_start_date: Mapped[date | None]
    kind: Mapped[str] = mapped_column(String(12), default="invoice")
    status: Mapped[str] = mapped_column(String(12), default="draft")
    issuer: Mapped[str] = mapped_column(String(64), default="default")
    test_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    number: Mapped[str | None] = mapped_column(String(32))
    year: Mapped[int | None]
    seq: Mapped[int | None]
    issue_date: Mapped[date | None]
    due_date: Mapped[date | None]
    language: Mapped[str] = mapped_column(String(2), default="nl")
    subtotal: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    vat_rate: Mapped[Decimal] = mapped_column(default=Decimal("21"))
    vat: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    total: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    reverse_charge: Mapped[bool] = mapped_column(Boolean, default=False)
    credited_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    pdf_path: Mapped[str | None] = mapped_column(String(500))
    note: Mapped[str | None] = mapped_column(Text)  # a credit note's reason
    hold_reasons: Mapped[str | None] = mapped_column(Text)  # why it waits for review, one per line
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finalized_at: Mapped[datetime | None]

    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", order_by="InvoiceLine.position"
    )
    specification: Mapped[list[InvoiceSpecificationLine]] = relationship(
        cascade="all, delete-orphan", order_by="InvoiceSpecificationLine.position"
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_line"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    description: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[Decimal]
    unit: Mapped[str] = mapped_column(String(16))
    unit_price: Mapped[Decimal]
    amount: Mapped[Decimal]

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class InvoiceSpecificationLine(Base):
    """A row of an invoice's usage specification (the PDF's annex), stored so a re-render matches."""

    __tablename__ = "invoice_specification_line"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    subscription_number: Mapped[str] = mapped_column(String(20))
    cost_centre: Mapped[str] = mapped_column(String(64), default="")
    call_type: Mapped[str] = mapped_column(String(8))
    zone: Mapped[str] = mapped_column(String(16), default="")  # roaming zone, "" at home
    count: Mapped[int]
    usage: Mapped[Decimal]
    in_bundle: Mapped[Decimal]
    beyond: Mapped[Decimal]
    unit: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal]


class InvoiceCounter(Base):
    """Last number handed out per issuer, year and series (live/test): gapless, never reused."""

    __tablename__ = "invoice_counter"
    issuer: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    series: Mapped[str] = mapped_column(String(8), primary_key=True)
    last_seq: Mapped[int] = mapped_column(default=0)


class Payment(Base):
    __tablename__ = "payment"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    paid_on: Mapped[date]
    amount: Mapped[Decimal]
    reference: Mapped[str] = mapped_column(String(255))
    counterparty: Mapped[str] = mapped_column(String(200))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"), index=True)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(8), default="csv")  # csv, camt053
    end_to_end_id: Mapped[str | None] = mapped_column(String(35), index=True)
    counterparty_iban: Mapped[str | None] = mapped_column(String(34))
    return_reason: Mapped[str | None] = mapped_column(String(8))  # a returned debit's code (AC04...)


class RevenueLedger(Base):
    """Per customer: what was invoiced and paid, updated with each finalized invoice."""

    __tablename__ = "revenue_ledger"
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), primary_key=True)
    invoiced_total: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    paid_total: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    invoice_count: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(12), default="paid")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MailLog(CycleRow, Base):
    """A sent mail; the unique key makes 'at most once per customer per cycle' hold."""

    __tablename__ = "mail_log"
    __table_args__ = (UniqueConstraint("customer_id", "cycle_start_date", "kind"),)
    kind: Mapped[str] = mapped_column(String(24))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    recipient: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default="sending")
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExportJob(Base):
    __tablename__ = "export_job"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    cycle_start_date: Mapped[date | None]
    status: Mapped[ExportStatus] = mapped_column(String(12), default="pending")
    path: Mapped[str | None] = mapped_column(String(500))
    rows: Mapped[int] = mapped_column(default=0)
    total_rows: Mapped[int | None]  # expected rows, when known before writing (progress)
    error_message: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(64), default="system")
    notify_email: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class BatchInvoice(Base):
    """An invoice issued from a client's batch CSV row (its own number series, "YYYY-Bnnnnn").

    (period, fingerprint) is unique: running the same file again in the same month
    issues nothing twice, while an identical row next month is a new invoice.
    """

    __tablename__ = "batch_invoice"
    __table_args__ = (
        UniqueConstraint("period", "fingerprint"),
        UniqueConstraint("issuer", "number"),
        Index("ix_batch_invoice_client_period", "client_id", "period"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(64), default="default")
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM of the issue date
    fingerprint: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    client_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    number: Mapped[str] = mapped_column(String(32))
    year: Mapped[int]
    seq: Mapped[int]
    issue_date: Mapped[date]
    language: Mapped[str] = mapped_column(String(2), default="nl")
    subtotal: Mapped[Decimal]
    vat_rate: Mapped[Decimal]
    vat: Mapped[Decimal]
    total: Mapped[Decimal]
    reverse_charge: Mapped[bool] = mapped_column(Boolean, default=False)
    pdf_path: Mapped[str] = mapped_column(String(500))
    row_json: Mapped[str | None] = mapped_column(Text)  # the CSV row, to render the PDF again
    source: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """A mail that is not tied to one customer-cycle: export ready, failure digest, batch ZIP.

    The row is inserted as a claim before sending; UNIQUE(kind, key) makes a redelivered
    command or a second host skip instead of sending twice.
    """

    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("kind", "key"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    key: Mapped[str] = mapped_column(String(120))
    recipient: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(12), default="sending")
    covered_until: Mapped[datetime | None]  # a digest: failures up to this instant are in it
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class InvoiceCorrection(Base):
    """A pending correction of an invoiced cycle carried as a line on a later invoice of the customer.

    `amount` is the net difference (before VAT) carried; it counts as carried while the
    carrying invoice stands (draft, review or final, and not credited), so a dropped or
    credited carrier leaves the correction pending again: never lost, never doubled.
    """

    __tablename__ = "invoice_correction"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)  # the corrected invoice
    carried_on_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)  # the invoice carrying it
    amount: Mapped[Decimal]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerCredit(Base):
    """A movement of a customer's credit: applied to an invoice, or refunded.

    The credit itself is not stored: it is what the customer paid beyond the totals of
    their invoices (overpayments, credit notes on paid invoices), less these movements.
    """

    __tablename__ = "customer_credit"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # applied | refunded
    amount: Mapped[Decimal]
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))  # the invoice it paid
    operator: Mapped[str] = mapped_column(String(64), default="system")
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
