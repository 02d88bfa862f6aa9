"""Alembic environment: runs on the engine handed over by core.db (no alembic.ini)."""

from __future__ import annotations

from alembic import context

from core.models import Base, load_all

load_all()  # Base.metadata holds every table

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
