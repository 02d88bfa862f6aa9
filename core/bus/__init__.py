"""The durable command bus (DESIGN.md "The command bus")."""

from core.bus.bus import DISCARDED, DONE, FAILED, QUEUED, RUNNING, Bus, ClaimedMessage
from core.bus.command import (
    Command,
    PayloadError,
    Registry,
    RegistryError,
    UnknownCommand,
    default_registry,
    handles,
)
from core.bus.context import HandlerContext
from core.bus.errors import PermanentError, TransientError
from core.bus.events import MessageEvent
from core.bus.follow import Dispatched, Progress, follow, wait_for
from core.bus.worker import WorkerPool, execute, run_until_idle

__all__ = [
    "DISCARDED", "DONE", "FAILED", "QUEUED", "RUNNING", "Bus", "ClaimedMessage", "Command", "Dispatched",
    "HandlerContext", "MessageEvent", "PayloadError", "PermanentError", "Progress", "Registry",
    "RegistryError", "TransientError", "UnknownCommand", "WorkerPool", "default_registry",
    "execute", "follow", "handles", "run_until_idle", "wait_for",
]
