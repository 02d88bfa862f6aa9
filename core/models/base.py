"""Declarative base, shared column types and naming conventions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.clock import system_clock

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements INTEGER PRIMARY KEY; MySQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Stores naive UTC (MySQL DATETIME has no zone), returns aware UTC."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects import mysql  # loaded when connected to it

            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        if dialect.name == "sqlite":
            from sqlalchemy.dialects import sqlite

            return dialect.type_descriptor(sqlite.DATETIME())  # type: ignore[no-untyped-call]
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


FOUR_PLACES = Decimal("0.0001")


class Money(TypeDecorator[Decimal]):
    """Exact money with 4 decimals (DESIGN.md "Money and rating").

    MySQL/MariaDB: DECIMAL(18,4). SQLite has no decimal type (NUMERIC becomes a
    float), so there it is an integer count of ten-thousandths: SUM() stays exact
    and the value comes back as the same Decimal.
    """

    impl = Numeric(18, 4, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, 4, asdecimal=True))

    def process_bind_param(self, value: Decimal | int | str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = Decimal(value).quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)
        if dialect.name == "sqlite":
            return int(amount.scaleb(4))
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-4)
        return Decimal(value).quantize(FOUR_PLACES)


def utcnow() -> datetime:
    """Column defaults' "now": the system clock (code that takes a clock passes its own)."""
    return system_clock()


def money(value: Decimal | int | str) -> Decimal:
    return Decimal(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UtcDateTime(),
        Decimal: Money(),
        str: String(255),
    }


def sqlite_datetime(value: datetime) -> str:
    """The text SQLAlchemy's SQLite DATETIME stores, for raw bulk inserts (naive UTC)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_money(value: Decimal) -> int:
    return int(value.quantize(FOUR_PLACES, rounding=ROUND_HALF_UP).scaleb(4))


class CycleRow:
    """A row of one customer-cycle: its own id, then the customer and the cycle's start date
    (the first columns of every such table)."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, sort_order=-3)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), sort_order=-2)
    cycle_start_date: Mapped[date] = mapped_column(sort_order=-1)
