"""Handlers' dependencies are typed and built once; every handler is listed in one place."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from core.bus import Bus, Command, HandlerContext, Registry, default_registry, execute
from core.bus.deps import HandlerDeps
from core.db import Database
from core.models import Message
from core.runtime import Runtime
from core.workflows import handlers

reg = Registry()


@dataclass(frozen=True)
class NeedsSettings(Command, registry=reg):
    pass


@reg.handles(NeedsSettings)
def needs_settings(cmd: NeedsSettings, ctx: HandlerContext) -> None:
    assert ctx.deps.settings.max_attempts > 0


def test_the_runtime_builds_the_dependencies_once_and_hands_them_to_the_bus(rt: Runtime) -> None:
    assert rt.bus.deps is rt.deps and rt.deps.settings is rt.settings
    assert rt.bus.clock is rt.deps.clock
    with pytest.raises(dataclasses.FrozenInstanceError):
        rt.deps.settings = rt.settings  # type: ignore[misc]
    assert rt.deps.secrets is rt.deps.secrets  # opened once, on first use


def test_a_handler_on_a_bus_without_dependencies_fails_with_one_clear_line(sqlite_db: Database) -> None:
    bus = Bus(sqlite_db, reg)
    handle = bus.dispatch(NeedsSettings())
    claimed = bus.claim("w1")
    assert claimed is not None and execute(bus, claimed) == "failed"
    with sqlite_db.reader() as s:
        error = s.get_one(Message, handle.message_id).error
    assert error == ("PermanentError: NeedsSettings needs the runtime's dependencies (settings, secrets), "
                     "and this bus was built without them")


def test_a_bus_with_dependencies_gives_them_to_its_handlers(sqlite_db: Database, rt: Runtime) -> None:
    bus = Bus(sqlite_db, reg, deps=HandlerDeps(rt.settings))
    bus.dispatch(NeedsSettings())
    claimed = bus.claim("w1")
    assert claimed is not None and execute(bus, claimed) == "done"


def test_every_workflow_command_is_listed_with_its_handler_in_one_place() -> None:
    listed = dict(handlers())
    workflow_commands = {c for c in default_registry.commands.values() if c.__module__.startswith("core.workflows")}
    assert workflow_commands and set(listed) == workflow_commands
    for command, handler in listed.items():
        assert default_registry.handlers[command] is handler, command.type_name()
