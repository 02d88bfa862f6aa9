"""The audit log: exactly one line per action (who, what, target, when, result), and its CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core.bus import run_until_idle
from core.db import Database, ensure_schema
from core.models import AuditLog, Subscription, SyncProfile
from core.operations import discard_message
from core.rating.cycles import cycle_for_label
from core.security.roles import NotAllowed, add_operator, set_role
from core.workflows.addons import activate_addons
from core.workflows.sync import start_manual_sync
from core.workflows.totals import request_recalculation
from expensis_tui.cli import main
from providers.sandbox import SandboxServer
from tests.sync_support import SyncWorld, make_world


def entries(db: Database) -> list[tuple[str, str, str, str]]:
    with db.reader() as s:
        return [(r.operator, r.action, r.target, r.result)
                for r in s.scalars(select(AuditLog).order_by(AuditLog.id))]


def act(world: SyncWorld) -> int:
    """A day's work: each call is one action, and each should leave exactly one line."""
    db, bus = world.db, world.bus
    with db.reader() as s:
        profile = s.scalars(select(SyncProfile)).one()
    add_operator(db, "olga", "operator", operator="test")
    start_manual_sync(bus, profile.id, "2026-09", operator="olga")
    run_until_idle(bus)
    september = cycle_for_label("2026-09", 1).start
    request_recalculation(bus, profile.customer_id, september, operator="olga")
    run_until_idle(bus)
    with db.reader() as s:
        sub_id = s.scalars(select(Subscription.id).order_by(Subscription.id)).first()
    assert sub_id is not None
    activate_addons(bus, profile.customer_id, [sub_id], "DATA-10GB", operator="test")
    run_until_idle(bus)
    set_role(db, "olga", "viewer", operator="test")
    with pytest.raises(NotAllowed):
        start_manual_sync(bus, profile.id, "2026-10", operator="olga")
    waiting = request_recalculation(bus, profile.customer_id, september, operator="test").message_id
    discard_message(bus, waiting, operator="test")
    return waiting


def test_one_line_per_action(db: Database, sandbox: SandboxServer, tmp_path: Path) -> None:
    world = make_world(db, sandbox, tmp_path, ["routit"], subscriptions=2, cdrs=2)
    discarded = act(world)
    assert entries(db) == [
        ("test", "operators.bootstrap", "test", "ok"),
        ("test", "setup.apply", "setup", "ok"),
        ("test", "operators.add", "olga", "ok"),
        ("olga", "sync.start", "routit-profile 2026-09", "ok"),
        ("olga", "totals.recalculate", "ROUTIT 2026-09", "ok"),
        ("test", "addons.activate", "ROUTIT DATA-10GB", "ok"),
        ("test", "operators.set_role", "olga", "ok"),
        ("olga", "sync.start", "routit-profile 2026-10", "denied"),
        ("test", "totals.recalculate", "ROUTIT 2026-09", "ok"),
        ("test", "messages.discard", f"message {discarded} DispatchTotals", "ok"),
    ]
    with db.reader() as s:
        stamps = list(s.scalars(select(AuditLog.at).order_by(AuditLog.id)))
    assert stamps == sorted(stamps) and all(datetime.now(UTC) - at < timedelta(minutes=5) for at in stamps)


def test_audit_list_filters(sandbox: SandboxServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = Database(f"sqlite:///{data / 'expensis.sqlite3'}")
    ensure_schema(database)
    act(make_world(database, sandbox, data, ["routit"], subscriptions=2, cdrs=2))
    database.dispose()

    def cli(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["--data-dir", str(data), "--operator", "olga", *args],
                                    catch_exceptions=False)
        return result.exit_code, result.stdout

    code, out = cli("audit", "list", "--operator", "olga", "--json")  # reading needs no role
    assert code == 0
    assert [(e["action"], e["result"]) for e in json.loads(out)] == [
        ("sync.start", "denied"), ("totals.recalculate", "ok"), ("sync.start", "ok")]
    code, out = cli("audit", "list", "--action", "operators.", "--json")
    assert [e["action"] for e in json.loads(out)] == ["operators.set_role", "operators.add",
                                                      "operators.bootstrap"]
    code, out = cli("audit", "list", "--action", "sync.start", "--result", "denied")
    assert code == 0 and out.count("\n") == 2 and "olga" in out and "denied" in out  # header, one row
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    code, out = cli("audit", "list", "--since", tomorrow, "--json")
    assert code == 0 and json.loads(out) == []
    code, out = cli("audit", "list", "--since", "2000-01-01T00:00:00+00:00", "--json")
    assert len(json.loads(out)) == 10
    result = CliRunner().invoke(main, ["--data-dir", str(data), "audit", "list", "--since", "yesterday"])
    assert result.exit_code == 2 and "not YYYY-MM-DD" in result.stderr


def test_a_retry_whose_audit_line_cannot_be_written_is_not_done(db: Database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from core.bus import Bus
    from core.bus.command import default_registry
    from core.models import Message
    from core.operations import retry_all_failed, retry_message
    from tests.bus_plugin import RecordEffect

    bus = Bus(db, default_registry)
    failed = bus.dispatch(RecordEffect("k")).message_id
    with db.transaction() as s:
        s.execute(update(Message).where(Message.id == failed).values(status="failed"))

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("core.operations.audit.record", disk_full)
    for action in (lambda: retry_message(bus, failed, operator="test"),
                   lambda: retry_all_failed(bus, operator="test")):
        with pytest.raises(OSError):
            action()
        with db.reader() as s:
            assert s.get_one(Message, failed).status == "failed"  # undone with its audit line
    monkeypatch.undo()
    assert retry_message(bus, failed, operator="test")
    assert entries(db)[-1] == ("test", "messages.retry", f"message {failed} RecordEffect", "ok")
