"""Call detail records and the rows we could not accept."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.mysql import VARCHAR
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, BigId, utcnow

# provider_ref is compared byte for byte on both databases: SQLite's default BINARY
# collation; on MariaDB a binary NO PAD collation (case and trailing spaces count).
ProviderRef = String(80).with_variant(VARCHAR(80, collation="utf8mb4_nopad_bin"), "mysql", "mariadb")


class CallRecord:
    """What a provider's record says about one call, SMS or data session: the columns a CDR
    and each version of it a correction replaced (CdrCorrection) have alike."""

    number: Mapped[str] = mapped_column(String(20))
    call_date: Mapped[datetime]
    call_type: Mapped[str] = mapped_column(String(8))
    destination: Mapped[str] = mapped_column(String(32), default="")
    duration_s: Mapped[int] = mapped_column(default=0)
    volume_kb: Mapped[int] = mapped_column(default=0)
    provider_cost: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    roaming: Mapped[bool] = mapped_column(Boolean, default=False)
    visited_country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166 alpha-2, roaming


class Cdr(CallRecord, Base):
    __tablename__ = "cdr"
    __table_args__ = (
        UniqueConstraint("provider", "provider_ref", name="uq_cdr_provider_ref"),
        Index("ix_cdr_customer_call_date", "customer_id", "call_date"),
        Index("ix_cdr_call_date", "call_date"),  # the dashboard's CDRs per call day, all customers
        # A customer-cycle's CDRs in one range, with every column the rating reads (migrations 0018, 0021).
        # On MariaDB the table itself is clustered by (customer_id, cycle_start_date, id), `id` unique
        # on its own (migration 0017), and this index is not needed.
        Index("ix_cdr_cycle_rows", "customer_id", "cycle_start_date", "subscription_id", "id", "call_date",
              "call_type", "destination", "duration_s", "volume_kb", "provider_cost", "roaming",
              "visited_country").ddl_if(dialect="sqlite"),
        # what a rating's foreign key refers to (migration 0019); on MariaDB the primary key
        Index("uq_cdr_cycle_id", "customer_id", "cycle_start_date", "id", unique=True).ddl_if(dialect="sqlite"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str] = mapped_column(ProviderRef)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id"))
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))
    cycle_start_date: Mapped[date]


class CdrRating(Base):
    """A CDR's rated amount and bundle use, clustered by customer-cycle.

    Kept apart from `cdr` on purpose: one customer's CDRs are interleaved with every
    other customer's in insertion order, so writing amounts onto `cdr` rows rewrote
    pages all over the table. Here the primary key (customer, cycle, cdr) keeps one
    customer-cycle's ratings contiguous (WITHOUT ROWID on SQLite; InnoDB clusters by PK).
    """

    __tablename__ = "cdr_rating"
    __table_args__ = (
        # Its CDR in the same customer-cycle; the database checks it through one range of `cdr`'s
        # (customer_id, cycle_start_date, id) key, and a deleted CDR's check is a primary-key look-up
        # here (by `cdr_id` alone it scanned this table; migration 0019).
        ForeignKeyConstraint(["customer_id", "cycle_start_date", "cdr_id"],
                             ["cdr.customer_id", "cdr.cycle_start_date", "cdr.id"], name="fk_cdr_rating_cdr"),
        # the few rated in a roaming zone: whether a cycle has any is one look-up (migration 0022)
        Index("ix_cdr_rating_zoned", "customer_id", "cycle_start_date", "zone",
              sqlite_where=text("zone IS NOT NULL")).ddl_if(dialect="sqlite"),
        {"sqlite_with_rowid": False},
    )
    customer_id: Mapped[int] = mapped_column(BigId, primary_key=True)  # its CDR's, whose key holds it to customer
    cycle_start_date: Mapped[date] = mapped_column(primary_key=True)
    cdr_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(BigId)
    call_type: Mapped[str] = mapped_column(String(8))
    rated_amount: Mapped[Decimal]
    bundle_used: Mapped[int] = mapped_column(default=0)
    zone: Mapped[str | None] = mapped_column(String(16))  # roaming zone, "EU", "?"; NULL at home
    # the CDR's usage, so a rate-plan customer-cycle's totals are summed from here alone
    duration_s: Mapped[int] = mapped_column(default=0, server_default="0")
    volume_kb: Mapped[int] = mapped_column(default=0, server_default="0")
    provider_cost: Mapped[Decimal] = mapped_column(default=Decimal(0), server_default="0")


class QuarantinedRow(Base):
    __tablename__ = "quarantined_row"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    import_batch_id: Mapped[int] = mapped_column(ForeignKey("import_batch.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    line: Mapped[int]
    reason: Mapped[str] = mapped_column(String(255))
    raw: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CdrCorrection(CallRecord, Base):
    """A version of a CDR that a provider correction replaced, kept for audit.

    The `cdr` row always holds the newest version (the rating input); each correction
    archives the version it replaces here, with where that version was.
    """

    __tablename__ = "cdr_correction"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    cdr_id: Mapped[int] = mapped_column(BigId, ForeignKey("cdr.id"), index=True)
    import_batch_id: Mapped[int] = mapped_column(ForeignKey("import_batch.id"))  # the correcting import
    replaced_batch_id: Mapped[int | None] = mapped_column(BigId)  # the import the old version came from
    customer_id: Mapped[int] = mapped_column(BigId)
    subscription_id: Mapped[int] = mapped_column(BigId)
    cycle_start_date: Mapped[date]
    corrected_at: Mapped[datetime] = mapped_column(default=utcnow)
