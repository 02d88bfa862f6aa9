"""Start-up (issue 14.3): light commands and the console's first screen import only what
they use. Checked on `sys.modules` in a fresh interpreter, never on a timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from core.db import SCHEMA_HEAD, migrations_head
from expensis_tui.cli import COMMANDS, load_all_commands, main

ROOT = Path(__file__).resolve().parent.parent

# Heavy packages a light command must not pay for: PDF and Excel writers, the HTTP client
# and the providers on it, the scheduler, locale data, migrations, the console toolkit.
HEAVY = ("fpdf", "fontTools", "openpyxl", "httpx", "providers.http", "apscheduler",
         "scheduler", "babel", "alembic", "textual")

_RUN_AND_LIST_MODULES = """
import json, sys
from expensis_tui.cli import main
try:
    main(sys.argv[2:], prog_name="expensis")
except SystemExit as exc:
    code = exc.code
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


def loaded_by(tmp_path: Path, *args: str) -> tuple[int, set[str], str]:
    """Run `expensis ARGS` in a fresh interpreter: exit code, modules loaded, stdout."""
    report = tmp_path / "modules.json"
    result = subprocess.run([sys.executable, "-c", _RUN_AND_LIST_MODULES, str(report), *args],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert report.exists(), result.stderr
    data = json.loads(report.read_text())
    return data["code"], set(data["modules"]), result.stdout


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_help_imports_neither_the_database_nor_any_heavy_package(tmp_path: Path) -> None:
    code, modules, out = loaded_by(tmp_path, "--help")
    assert code == 0
    assert heavy_in(modules) == []
    assert "sqlalchemy" not in modules
    assert not [m for m in modules if m.startswith("expensis_tui.cli.")]  # no command module
    for name in COMMANDS:
        assert f"  {name} " in out


def test_messages_list_json_imports_no_heavy_package(tmp_path: Path, db_url: str) -> None:
    code, modules, out = loaded_by(tmp_path, "--db", db_url, "--data-dir", str(tmp_path),
                                   "messages", "list", "--json")
    assert code == 0
    assert json.loads(out) == []
    assert heavy_in(modules) == []
    # one table read on the driver (core.quickread): no SQLAlchemy, no model, no table renderer,
    # no secret box, no user dirs
    assert sorted(m for m in modules if m.split(".")[0] == "sqlalchemy") == []
    assert sorted(m for m in modules if m.startswith("core.models")) == []
    # (pymysql itself imports cryptography, for its sha256 log-ins: not the secret box)
    driver = {"cryptography"} if db_url.startswith("mysql") else set()
    assert [m for m in ("rich", "cryptography", "platformdirs") if m in modules] == sorted(driver)
    assert "core.security.secrets" not in modules
    assert ("pymysql" in modules) == db_url.startswith("mysql")


def test_messages_list_as_a_table_imports_no_sqlalchemy(tmp_path: Path, sqlite_template: Path) -> None:
    (tmp_path / "e.sqlite3").write_bytes(sqlite_template.read_bytes())
    code, modules, out = loaded_by(tmp_path, "--db", f"sqlite:///{tmp_path / 'e.sqlite3'}",
                                   "--data-dir", str(tmp_path), "messages", "list")
    assert code == 0 and out.split() == ["ID", "STATUS", "TRY", "COMMAND", "ERROR"]
    assert "sqlalchemy" not in modules and heavy_in(modules) == []


def test_messages_list_on_a_new_database_goes_through_the_runtime(tmp_path: Path) -> None:
    """The light path leaves what it does not handle (here: creating the schema) to the runtime."""
    code, modules, out = loaded_by(tmp_path, "--data-dir", str(tmp_path), "messages", "list", "--json")
    assert code == 0 and json.loads(out) == []
    assert "sqlalchemy.orm" in modules and (tmp_path / "expensis.sqlite3").is_file()


def test_status_imports_no_document_http_or_console_package(tmp_path: Path, sqlite_template: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.sqlite3'}"
    (tmp_path / "e.sqlite3").write_bytes(sqlite_template.read_bytes())
    code, modules, out = loaded_by(tmp_path, "--db", url, "--data-dir", str(tmp_path), "status", "--json")
    assert code == 0
    assert json.loads(out)["queue"] is not None
    # the scheduler's lease and job definitions are read (APScheduler's triggers): nothing else heavy
    assert [m for m in heavy_in(modules) if not m.startswith(("apscheduler", "scheduler"))] == []


def test_the_console_screens_import_no_heavy_package(tmp_path: Path) -> None:
    """PDF, Excel, HTTP and the scheduler load in workers after the first paint; the other
    screens when first shown; the dashboard's queries (and the models they join) in its worker."""
    report = tmp_path / "modules.json"
    subprocess.run([sys.executable, "-c",
                    "import json, sys, expensis_tui.launch, expensis_tui.app, expensis_tui.screens.dashboard\n"
                    f"json.dump(sorted(sys.modules), open({str(report)!r}, 'w'))"],
                   cwd=ROOT, check=True, timeout=120)
    modules = set(json.loads(report.read_text()))
    assert "textual" in modules
    assert [m for m in heavy_in(modules) if not m.startswith("textual")] == []
    screens = {m for m in modules if m.startswith("expensis_tui.screens.")}
    assert screens == {"expensis_tui.screens.base", "expensis_tui.screens.dashboard"}
    assert [m for m in modules if m.startswith(("core.workflows", "core.views.", "core.billing"))] == []
    assert "cryptography" not in modules


def test_the_command_table_matches_the_command_modules() -> None:
    """COMMANDS (read by `--help` without importing) says what each module registers."""
    load_all_commands()
    registered = {name: (command.callback.__module__ if command.callback else "",
                         command.get_short_help_str(10_000))
                  for name, command in main.commands.items()}
    assert registered == COMMANDS


def test_help_lists_every_command_once() -> None:
    out = CliRunner().invoke(main, ["--help"]).output
    listed = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == sorted(COMMANDS)


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2 and "No such command" in result.output


def test_schema_head_constant_matches_the_migrations() -> None:
    """Start-up compares the database with core.db.SCHEMA_HEAD instead of asking alembic."""
    head = migrations_head()
    assert head == SCHEMA_HEAD, (
        f"a migration was added: set SCHEMA_HEAD = {head!r} in core/schema_head.py")


_CONSOLE_MODELS = """
import sys
import expensis_tui.app as app_module
from core.models import _HOME

class Console:  # stands in for ExpensisApp: what is imported when the console would start
    return_code = 0
    def __init__(self, runtime): pass
    def run(self):
        print(sorted(set(_HOME.values()) - set(sys.modules)))

app_module.ExpensisApp = Console
from expensis_tui.launch import open_console
open_console(None)
"""


def test_the_console_imports_every_model_module_before_it_starts_a_thread() -> None:
    """Models imported lazily by the console's threads deadlocked it on its first screen: one
    thread, holding SQLAlchemy's mapper configuration lock, waited in the before_configured hook
    (core.models.load_all) to import a model module that another thread was importing, whose
    class declaration waited for that lock. So every model module is imported before the app runs."""
    result = subprocess.run([sys.executable, "-c", _CONSOLE_MODELS], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def test_a_signal_ends_the_console_even_when_its_event_loop_never_answers(monkeypatch: Any) -> None:
    """SIGTERM/SIGHUP ask the app to exit through its event loop; a loop that never answers (the
    deadlock above) kept the process alive after its terminal closed. The deadline runs apart."""
    import threading

    from expensis_tui import launch

    ended: list[int] = []
    done = threading.Event()
    stuck = threading.Event()

    class StuckApp:
        def exit(self, *_args: object) -> None:
            raise AssertionError("only the event loop runs this")

        def call_from_thread(self, *_args: object) -> None:
            stuck.wait()  # the loop never runs the exit

    def exit_now(code: int) -> None:
        ended.append(code)
        done.set()

    monkeypatch.setattr(launch, "SIGNAL_EXIT_DEADLINE_S", 0.05)
    monkeypatch.setattr(launch.os, "_exit", exit_now)
    threading.Thread(target=launch._exit_app, args=(StuckApp(), 15), daemon=True).start()
    try:
        assert done.wait(30), "the process would still be running"
    finally:
        stuck.set()
    assert ended == [143]
