"""Access: every state-changing CLI command is checked in core and audited under its action;
--operator needs an admin OS user or the setting; private files; console refusals audited."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from core.config import Settings
from core.db import head_revision
from core.models import AuditLog, Cdr
from core.runtime import Runtime
from core.security.roles import ACTIONS, Action
from expensis_tui.cli import EXIT_NOT_ALLOWED, main

CSV = ("provider_ref,number,call_date,call_type,destination,duration_s,volume_kb,provider_cost\n"
       "r1,+31610000001,2026-10-20T10:00:00+02:00,voice,+31201234567,60,0,0.0100\n")


def cli(rt: Runtime, operator: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--data-dir", str(rt.settings.data_dir), "--operator", operator,
                                       *args])
    return result.exit_code, result.stdout, result.stderr


def denials(rt: Runtime) -> list[tuple[str, str]]:
    with rt.db.reader() as s:
        return [(r.operator, r.action) for r in s.scalars(
            select(AuditLog).where(AuditLog.result == "denied").order_by(AuditLog.id))]


def audited(rt: Runtime, action: Action) -> list[tuple[str, str]]:
    with rt.db.reader() as s:
        return [(r.operator, r.result) for r in s.scalars(
            select(AuditLog).where(AuditLog.action == action.value).order_by(AuditLog.id))]


def cdr_file(tmp_path: Path) -> str:
    path = tmp_path / "cdrs.csv"
    path.write_text(CSV)
    return str(path)


# (arguments, the action core checks and audits): every state-changing command of the CLI
def state_changing(tmp_path: Path) -> list[tuple[tuple[str, ...], Action]]:
    csv = cdr_file(tmp_path)
    setup = tmp_path / "setup.toml"
    setup.write_text("")
    return [
        (("cdr", "import", csv, "--provider", "kpn_sp16"), Action.CDR_IMPORT),
        (("cdr", "import", csv, "--provider", "kpn_sp16", "--totals"), Action.CDR_IMPORT),
        (("sync", "manager"), Action.SYNC_MANAGER),
        (("sync", "run", "acme-kpn", "--month", "2026-10"), Action.SYNC_START),
        (("balances", "update"), Action.BALANCES_UPDATE),
        (("totals", "recalc", "ACME", "--cycle", "2026-10"), Action.TOTALS_RECALCULATE),
        (("totals", "recalc", "--partner", "Partner A", "--from", "2026-10", "--to", "2026-10"),
         Action.TOTALS_PARTNER_RECALCULATE),
        (("messages", "retry", "--all-failed"), Action.MESSAGES_RETRY),
        (("failures", "retry", "sync-4"), Action.FAILURES_RETRY),  # the showcase's failed vodafone sync
        (("export", "usage", "ACME", "--cycle", "2026-10"), Action.EXPORT_CREATE),
        (("invoices", "run", "--cycle", "2026-10"), Action.INVOICES_RUN),
        (("payments", "match", "1", "2026-00001"), Action.PAYMENTS_MATCH),
        (("payments", "collect", "--due-before", "2026-12-31"), Action.PAYMENTS_COLLECT),
        (("payments", "reminders", "--send"), Action.PAYMENTS_REMIND),
        (("apply", str(setup)), Action.SETUP_APPLY),
        (("operators", "add", "zed"), Action.OPERATORS_ADD),
        (("operators", "set-role", "bob", "admin"), Action.OPERATORS_SET_ROLE),
        (("operators", "remove", "bob"), Action.OPERATORS_REMOVE),
        (("messages", "discard", "1"), Action.MESSAGES_DISCARD),
        (("messages", "retry", "--filter", "type=ProviderSync", "--yes"), Action.MESSAGES_RETRY),
        (("messages", "pause", "--all"), Action.MESSAGES_PAUSE),
        (("messages", "resume", "--all"), Action.MESSAGES_RESUME),
        (("export", "excel", "ACME", "--cycle", "2026-10"), Action.EXPORT_CREATE),
        (("export", "csv", "ACME", "--cycle", "2026-10"), Action.EXPORT_CREATE),
        (("export", "insights", "ACME", "--cycle", "2026-10"), Action.EXPORT_CREATE),
        (("export", "cost-centres", "ACME", "--cycle", "2026-10"), Action.EXPORT_CREATE),
        (("invoices", "credit", "2026-00001", "--reason", "wrong"), Action.INVOICE_CREDIT),
        (("invoices", "send", "2026-00001"), Action.INVOICE_SEND),
        (("invoices", "release", "1"), Action.INVOICE_RELEASE),
        (("invoices", "drop", "1", "--reason", "duplicate"), Action.INVOICE_DROP),
        (("invoices", "correct", "2026-00001", "--reason", "late CDRs"), Action.INVOICE_CORRECT),
        (("balances", "refund", "ACME", "--note", "NL91 transfer"), Action.CREDIT_REFUND),
        (("invoices", "batch", csv), Action.INVOICES_BATCH),
        (("payments", "import", csv), Action.PAYMENTS_IMPORT),
        (("addons", "activate", "BETA", "+31620000001", "--addon", "DATA-10GB"), Action.ADDONS_ACTIVATE),
        (("addons", "cancel", "BETA", "+31620000001", "--addon", "DATA-10GB"), Action.ADDONS_CANCEL),
        (("addons", "list", "BETA", "--refresh"), Action.ADDONS_REFRESH),
    ]


def test_a_viewer_is_refused_every_state_changing_command_in_one_line_and_audited(
        rt: Runtime, tmp_path: Path) -> None:
    for args, action in state_changing(tmp_path):
        before = len(denials(rt))
        code, out, err = cli(rt, "vera", *args)
        assert code == EXIT_NOT_ALLOWED, (args, code, out, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (args, err)
        assert "vera is a viewer; " in err and f"({action.value})" in err, (args, err)
        assert "an admin runs `expensis operators set-role vera " in err
        assert denials(rt)[before:] == [("vera", action.value)], args
    with rt.db.reader() as s:
        assert s.scalar(select(Cdr.id).where(Cdr.provider_ref == "r1")) is None  # nothing imported


def test_an_operator_runs_them_and_each_is_audited_under_the_action_it_checks(
        rt: Runtime, tmp_path: Path) -> None:
    csv = cdr_file(tmp_path)
    assert cli(rt, "bob", "cdr", "import", csv, "--provider", "kpn_sp16", "--totals")[0] == 0
    assert audited(rt, Action.CDR_IMPORT) == [("bob", "ok")]
    assert ("bob", "ok") in audited(rt, Action.TOTALS_RECALCULATE)
    empty = tmp_path / "empty.csv"
    empty.write_text(CSV.splitlines()[0] + "\n")  # the header alone: nothing stored, exit 1
    assert cli(rt, "bob", "cdr", "import", str(empty), "--provider", "kpn_sp16")[0] == 1
    assert audited(rt, Action.CDR_IMPORT) == [("bob", "ok"), ("bob", "failed")]  # it said "ok"
    assert cli(rt, "bob", "sync", "manager")[0] == 0
    assert audited(rt, Action.SYNC_MANAGER) == [("bob", "ok")]
    assert cli(rt, "bob", "balances", "update")[0] == 0
    assert audited(rt, Action.BALANCES_UPDATE) == [("bob", "ok")]


def test_db_upgrade_is_for_admins_and_audited(rt: Runtime) -> None:
    head = head_revision(rt.db)
    with rt.db.transaction() as s:  # pretend the schema is one release behind
        s.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": "0001"})
    code, _, err = cli(rt, "bob", "db", "upgrade")
    assert code == EXIT_NOT_ALLOWED and "(db.upgrade)" in err and "admin role" in err
    assert denials(rt)[-1] == ("bob", "db.upgrade")
    code, _, err = cli(rt, "bob", "db", "status")  # any other command: one line, exit 3
    assert code == 3 and "an admin runs `expensis db upgrade`" in err and "Traceback" not in err
    with rt.db.transaction() as s:
        s.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})


def test_db_upgrade_of_an_empty_database_is_audited(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    result = CliRunner().invoke(main, ["--data-dir", str(data), "--operator", "olga", "db", "upgrade"])
    assert result.exit_code == 0 and "created" in result.stdout
    rt = Runtime(Settings(data_dir=data))
    try:
        assert audited(rt, Action.DB_UPGRADE) == [("olga", "ok")]
    finally:
        rt.close()


# -- --operator -------------------------------------------------------------------------------

def test_operator_override_needs_the_setting_or_an_admin_os_user(
        rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPENSIS_ALLOW_OPERATOR_OVERRIDE")
    monkeypatch.setattr(Settings, "os_user", property(lambda self: "vera"))
    code, _, err = cli(rt, "alice", "operators", "list")  # vera, a viewer, may not act as alice
    assert code == EXIT_NOT_ALLOWED and "vera is a viewer; acting as another operator is the admin role" \
        in err and "Traceback" not in err
    assert denials(rt)[-1] == ("vera", Action.OPERATORS_ACT_AS.value)
    assert cli(rt, "vera", "operators", "list")[0] == 0  # naming yourself is fine
    monkeypatch.setattr(Settings, "os_user", property(lambda self: "dave"))  # an admin
    assert cli(rt, "alice", "operators", "list")[0] == 0
    monkeypatch.setattr(Settings, "os_user", property(lambda self: "vera"))
    monkeypatch.setenv("EXPENSIS_ALLOW_OPERATOR_OVERRIDE", "1")
    assert cli(rt, "alice", "operators", "list")[0] == 0


# -- file modes -------------------------------------------------------------------------------

def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_dir_database_and_log_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["--data-dir", str(data), "sync", "profiles"])
    assert result.exit_code == 0, result.output
    assert mode(data) == 0o700
    db = data / "expensis.sqlite3"
    assert mode(db) == 0o600
    for extra in ("-wal", "-shm"):
        side = db.with_name(db.name + extra)
        if side.exists():
            assert mode(side) == 0o600
    from scheduler.daemon import configure_logging

    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        log_file = configure_logging(Settings(data_dir=data))
        logging.getLogger("test").warning("hello")
        assert mode(log_file) == 0o600 and mode(log_file.parent) == 0o700
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()


def test_an_existing_install_readable_by_others_is_tightened_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    assert CliRunner().invoke(main, ["--data-dir", str(data), "sync", "profiles"]).exit_code == 0
    db = data / "expensis.sqlite3"
    data.chmod(0o755)
    db.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        assert CliRunner().invoke(main, ["--data-dir", str(data), "sync", "profiles"]).exit_code == 0
    assert mode(data) == 0o700 and mode(db) == 0o600
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert f"{data} was readable by others (mode 755): now 700" in warned
    assert f"{db} was readable by others (mode 644): now 600" in warned


def test_every_action_in_the_table_has_a_role() -> None:
    assert set(ACTIONS) == {a.value for a in Action}


# -- the console ------------------------------------------------------------------------------

@pytest.mark.anyio
async def test_console_refusals_are_audited_like_the_clis(rt: Runtime) -> None:
    from dataclasses import replace

    from expensis_tui.app import ExpensisApp
    from expensis_tui.showcase import frozen_clock, settle

    viewer = Runtime(replace(rt.settings, operator="vera"))  # the same database
    try:
        app = ExpensisApp(viewer, start_services=False, clock=frozen_clock)
        notes: list[str] = []
        async with app.run_test(size=(100, 30)) as pilot:
            for screen_key, action_key in (("4", "H"), ("3", "R"), ("3", "D")):
                await pilot.press(screen_key)
                await settle(pilot)
                await pilot.press(action_key)
                await settle(pilot)
                await app.workers.wait_for_complete()
                notes += [str(n.message) for n in app._notifications]
            await pilot.press("6", "ctrl+p", *"activate an add-on", "enter")  # the palette
            await settle(pilot)
            await app.workers.wait_for_complete()
            notes += [str(n.message) for n in app._notifications]
    finally:
        viewer.close()
    assert denials(rt) == [("vera", "totals.partner_recalculate"), ("vera", "messages.retry"),
                           ("vera", "messages.discard"), ("vera", "addons.activate")]
    assert any("vera is a viewer; partner recalculations need the operator role" in n for n in notes), notes
