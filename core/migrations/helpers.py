"""What the migrations share: the id and money types, a table keyed by its `id`, named
constraints, and columns added to (or dropped from) a table in one batch.

Applied migrations call these, so what a helper emits must never change: a new shape
is a new helper. Names follow the naming convention of `core.models.base` (`op.f`
marks them as final, as autogenerate writes them).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from core.models.base import Money, UtcDateTime

# BIGINT keys; INTEGER on SQLite, where only an INTEGER PRIMARY KEY is the rowid.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def money() -> Money:
    return Money(precision=18, scale=4)


def id_column(name: str = "id", *, nullable: bool = False) -> sa.Column[Any]:
    """A key column: the table's own `id`, or one that refers to another table's."""
    return sa.Column(name, ID, nullable=nullable)


def utc_column(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, UtcDateTime(), nullable=nullable)


def foreign_key(table: str, column: str, target: str, **options: Any) -> sa.ForeignKeyConstraint:
    """`table.column` refers to `target.id`."""
    return sa.ForeignKeyConstraint([column], [f"{target}.id"],
                                   name=op.f(f"fk_{table}_{column}_{target}"), **options)


def unique(table: str, *columns: str) -> sa.UniqueConstraint:
    return sa.UniqueConstraint(*columns, name=op.f(f"uq_{table}_{'_'.join(columns)}"))


def create_table_with_id(name: str, *elements: Any, **options: Any) -> None:
    """Create a table keyed by a BIGINT `id`, its first column, then `elements`
    (further columns and constraints, in the order given)."""
    op.create_table(name, id_column(), *elements,
                    sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")), **options)


def add_columns(table: str, *columns: sa.Column[Any]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.add_column(column)


def drop_columns(table: str, *names: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name in names:
            batch_op.drop_column(name)

