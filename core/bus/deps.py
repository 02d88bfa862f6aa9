"""What handlers use besides their command and transaction, built once by the runtime.

Handlers read `ctx.deps` (typed), never a dict of services: the settings, the secret box,
the clock, and the factories that open provider connections (tests pass their own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from core.config import Settings
from core.models.base import utcnow
from providers.base import AdapterFactory, AddonClientFactory, open_adapter, open_nina

if TYPE_CHECKING:
    from core.bus.bus import Bus
    from core.db import Database
    from core.security.secrets import SecretBox

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class HandlerDeps:
    settings: Settings
    clock: Clock = utcnow
    open_adapter: AdapterFactory = open_adapter  # a sync's provider adapter
    open_nina: AddonClientFactory = open_nina  # Routit's add-on API
    rate_limit_clock: Clock | None = None  # None: the database server's clock (hosts drift)

    @cached_property
    def secrets(self) -> SecretBox:
        """The credentials box, opened on first use (a command that never decrypts needs no key,
        nor the cryptography package)."""
        from core.security.secrets import SecretBox

        return SecretBox.from_settings(self.settings)


class JobRuntime(Protocol):
    """What a scheduled job gets (core.runtime.Runtime): settings, the database and the bus.

    Jobs live beside the code they drive (billing, maintenance, workflows); typing them with
    this protocol keeps those layers from importing the runtime that wires them together.
    """

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def bus(self) -> Bus: ...
