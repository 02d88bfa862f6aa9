"""One object that wires settings, the database (migrated on first use), the handlers'
dependencies and the bus."""

from __future__ import annotations

import logging
from functools import cached_property

from core.bus import Bus, default_registry
from core.bus.deps import HandlerDeps
from core.config import Settings
from core.db import (
    Database,
    DatabaseUnavailable,
    current_revision,
    head_revision,
    safe_url,
    upgrade,
)
from core.security.files import private_dir

log = logging.getLogger(__name__)


class Runtime:
    """`migrate`: create the schema of an empty database on first use (a database behind the
    program's schema is refused: upgrading it is `expensis db upgrade`, an admin's action).
    `create`: make the directory of an explicit SQLite path (the data dir is always made)."""

    def __init__(self, settings: Settings, *, migrate: bool = True, create: bool = False) -> None:
        self.settings = settings
        self.migrate = migrate
        self.create = create

    @cached_property
    def db(self) -> Database:
        url = self.settings.database_url
        private_dir(self.settings.data_dir)  # our own directory (exports, logs...): made, and kept, 0700
        db = Database(url, create=self.create)
        try:
            db.check()
            if self.migrate:
                current, head = current_revision(db), head_revision(db)
                if current is None:
                    upgrade(db)
                    log.info("database schema created")
                elif current != head:
                    raise DatabaseUnavailable(
                        f"database {safe_url(url)} has schema {current}, this program needs {head}: "
                        "an admin runs `expensis db upgrade`")
        except BaseException:
            db.dispose()
            raise
        return db

    @cached_property
    def deps(self) -> HandlerDeps:
        """What handlers use besides the database, built once (ctx.deps)."""
        return HandlerDeps(self.settings)

    @cached_property
    def bus(self) -> Bus:
        from core import workflows

        workflows.load_all()
        default_registry.check()
        s = self.settings
        return Bus(self.db, default_registry, clock=self.deps.clock, max_attempts=s.max_attempts,
                   backoff_base=s.backoff_base_s, backoff_cap=s.backoff_cap_s,
                   lease_seconds=s.lease_seconds, deps=self.deps)

    @cached_property
    def operator(self) -> str:
        """Who this process acts as; naming another operator needs an admin OS user or the
        `allow_operator_override` setting (NotAllowed, audited, otherwise)."""
        from core.security.roles import acting_operator

        s = self.settings
        return acting_operator(self.db, s.operator, s.os_user, allow_override=s.allow_operator_override)

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.dispose()
