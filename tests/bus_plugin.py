"""Handlers loaded into worker subprocesses by the bus reliability tests (`--plugin`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from core.bus import Command, HandlerContext, handles

EFFECT_DDL = "CREATE TABLE bus_effect (effect_key VARCHAR(80) PRIMARY KEY, command_id VARCHAR(36))"


@dataclass(frozen=True)
class RecordEffect(Command):
    """Writes one unique-keyed effect row in the handler's transaction, optionally slowly."""

    key: str
    sleep_s: float = 0.0
    marker: str = ""


@handles(RecordEffect)
def record_effect(cmd: RecordEffect, ctx: HandlerContext) -> None:
    ctx.session.execute(text("INSERT INTO bus_effect (effect_key, command_id) VALUES (:k, :c)"),
                        {"k": cmd.key, "c": ctx.command_id})
    if cmd.marker:
        Path(cmd.marker).write_text(str(ctx.attempt))
    if cmd.sleep_s:
        time.sleep(cmd.sleep_s)


@dataclass(frozen=True)
class RecordOtherEffect(Command):
    """A second command type, to show a pause of one type leaves the others running."""

    key: str


@handles(RecordOtherEffect)
def record_other_effect(cmd: RecordOtherEffect, ctx: HandlerContext) -> None:
    ctx.session.execute(text("INSERT INTO bus_effect (effect_key, command_id) VALUES (:k, :c)"),
                        {"k": cmd.key, "c": ctx.command_id})
