"""One object that wires settings, the database (migrated on first use) and the bus."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

from core.bus import Bus, default_registry
from core.config import Settings
from core.db import Database, ensure_schema

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings, *, migrate: bool = True) -> None:
        self.settings = settings
        self.migrate = migrate

    @cached_property
    def db(self) -> Database:
        db = Database(self.settings.database_url)
        if self.migrate and ensure_schema(db):
            log.info("database schema created or upgraded")
        return db

    @cached_property
    def bus(self) -> Bus:
        from core import workflows

        workflows.load_all()
        default_registry.check()
        s = self.settings
        services: dict[str, Any] = {"settings": s, "runtime": self}
        return Bus(self.db, default_registry, max_attempts=s.max_attempts,
                   backoff_base=s.backoff_base_s, backoff_cap=s.backoff_cap_s,
                   lease_seconds=s.lease_seconds, services=services)

    @property
    def operator(self) -> str:
        return self.settings.operator_name

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.dispose()
