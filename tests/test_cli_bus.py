"""The bus from the command line: list/show/retry/discard/work, exit codes, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from core.bus import Bus
from core.bus.command import default_registry
from core.db import Database
from expensis_tui.cli import main
from tests.bus_plugin import EFFECT_DDL, RecordEffect


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_unreachable_database_is_one_line_and_exit_3() -> None:
    code, out, err = invoke("--db", "mysql+pymysql://root:secret@127.0.0.1:9/nope", "messages", "list")
    assert code == 3
    assert err.count("\n") == 1 and err.startswith("error: database mysql+pymysql://root:***@127.0.0.1:9/nope")
    assert "secret" not in err and "Traceback" not in err


def test_bad_config_file_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("workers = 'many'\n")
    code, _, err = invoke("--config", str(cfg), "--data-dir", str(tmp_path), "messages", "list")
    assert code == 3 and "setting 'workers'" in err


def test_messages_lifecycle_from_the_cli(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    assert invoke("--data-dir", data, "db", "upgrade")[0] == 0
    db = Database(f"sqlite:///{tmp_path / 'data' / 'expensis.sqlite3'}")
    bus = Bus(db, default_registry)
    ok = bus.dispatch(RecordEffect("a")).message_id
    broken = bus.dispatch(RecordEffect("b")).message_id  # fails: the effect table does not exist yet

    code, out, _ = invoke("--data-dir", data, "work", "--until-idle", "--plugin", "tests.bus_plugin")
    assert code == 0 and "ran 2 message(s); failed 2" in out  # no effect table: both fail at once

    code, out, _ = invoke("--data-dir", data, "messages", "list", "--status", "failed", "--json")
    assert code == 0 and {m["id"] for m in json.loads(out)} == {ok, broken}

    code, out, _ = invoke("--data-dir", data, "messages", "show", str(ok))
    assert code == 0 and "RecordEffect" in out and "OperationalError" in out

    from sqlalchemy import text

    with db.transaction() as s:
        s.execute(text(EFFECT_DDL))
    assert invoke("--data-dir", data, "messages", "retry", str(ok))[0] == 0
    assert invoke("--data-dir", data, "messages", "discard", str(broken))[0] == 0
    code, out, _ = invoke("--data-dir", data, "work", "--until-idle", "--plugin", "tests.bus_plugin")
    assert "ran 1 message(s); failed 0" in out
    statuses = {m["id"]: m["status"] for m in json.loads(invoke("--data-dir", data, "messages", "list", "--json")[1])}
    assert statuses == {ok: "done", broken: "discarded"}

    code, _, err = invoke("--data-dir", data, "messages", "retry", str(ok))
    assert code == 4 and "is not a failed message" in err
    code, _, err = invoke("--data-dir", data, "messages", "show", "999")
    assert code == 4
    db.dispose()


def test_every_command_has_help() -> None:
    import click

    def walk(cmd: click.Command, path: list[str]) -> None:
        code, out, _ = invoke(*path, "--help")
        assert code == 0 and "Usage:" in out, path
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])

    walk(main, [])
