"""core.quickread: the light commands' reads without SQLAlchemy return what the ORM queries
return, byte for byte through the CLI, on SQLite and MariaDB; whatever they do not handle
goes through the runtime as before."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.dialects.mysql.pymysql import MySQLDialect_pymysql
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import make_url

from core import quickread
from core.bus.bus import STATUSES
from core.bus.queries import list_messages
from core.config import Settings
from core.db import SCHEMA_HEAD, Database, DatabaseUnavailable
from core.models import Message
from core.quickread import NotQuick, target_of
from core.security.roles import ADMIN, VIEWER, add_operator
from expensis_tui.cli import EXIT_NOT_ALLOWED, main

T0 = datetime(2026, 10, 20, 9, 59, 29, tzinfo=UTC)


def test_the_repeated_statuses_match_the_bus() -> None:
    assert quickread.MESSAGE_STATUSES == STATUSES


def add_messages(db: Database) -> None:
    """Messages of every status, some finished, errors with several lines and non-ASCII text,
    times with and without microseconds."""
    with db.transaction() as s:
        for i in range(12):
            at = T0 + timedelta(minutes=i, microseconds=123456 * (i % 3))
            s.add(Message(command_id=f"c-{i}", command_type=("ProviderSync", "SyncProfile", "Export")[i % 3],
                          payload="{}", workflow_id=f"wf-{i % 4}", status=STATUSES[i % 5], attempts=i % 6,
                          max_attempts=5, available_at=at + timedelta(days=365 * (i == 11)), created_at=at,
                          finished_at=at + timedelta(seconds=20) if i % 2 else None,
                          error=None if i % 3 else f"PermanentError: kein Netz – €{i}\n  line 2 \"quoted\""))


FILTERS: list[dict[str, Any]] = [
    {}, {"status": "failed"}, {"command_type": "Export"}, {"workflow_id": "wf-1"}, {"limit": 3},
    {"limit": 4, "offset": 2}, {"status": "done", "command_type": "SyncProfile", "workflow_id": "wf-0"},
    {"status": ""}, {"command_type": "NoSuchType"},
]


def test_the_quick_listing_is_the_orm_listing(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    add_messages(db)
    settings = Settings(data_dir=tmp_path / "data", db_url=db_url)
    for selection in FILTERS:
        orm = list_messages(db, **selection)
        quick = quickread.list_messages(settings, **selection)
        assert quick == orm, selection
        assert [type(v) for r in quick for v in r.as_dict().values()] == \
            [type(v) for r in orm for v in r.as_dict().values()]
        assert json.dumps([r.as_dict() for r in quick], default=str) == \
            json.dumps([r.as_dict() for r in orm], default=str)
    assert len(list_messages(db)) == 12
    db.dispose()


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


def test_messages_list_prints_the_same_bytes_as_through_the_runtime(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(db_url)
    add_messages(db)
    db.dispose()
    base = ("--db", db_url, "--data-dir", str(tmp_path / "data"), "messages", "list")
    options = [("--json",), ("--json", "--status", "failed"), ("--json", "--type", "Export", "--limit", "2"),
               ("--json", "--workflow", "wf-3"), ()]
    calls = []
    quick = quickread.list_messages
    monkeypatch.setattr(quickread, "list_messages", lambda *a, **k: calls.append(k) or quick(*a, **k))
    quick_out = [invoke(*base, *extra) for extra in options]
    assert len(calls) == len(options)  # every one read quickly

    def not_quick(*_args: object, **_kwargs: object) -> None:
        raise NotQuick("the test says so")

    monkeypatch.setattr(quickread, "list_messages", not_quick)
    runtime_out = [invoke(*base, *extra) for extra in options]
    assert quick_out == runtime_out
    assert all(code == 0 for code, _, _ in quick_out)
    assert len(json.loads(quick_out[0][1])) == 12 and "kein Netz" in quick_out[0][1]


@pytest.mark.parametrize("url", [
    "sqlite:////var/lib/expensis/expensis.sqlite3",
    "sqlite:///relative/expensis.sqlite3",
    "sqlite+pysqlite:///x%20y.sqlite3",
])
def test_a_sqlite_url_names_the_file_sqlalchemy_opens(url: str) -> None:
    target = target_of(url)
    assert target.sqlite_file is not None
    args, _ = SQLiteDialect_pysqlite().create_connect_args(make_url(url))
    assert [os.path.abspath(target.sqlite_file)] == args


@pytest.mark.parametrize("url", [
    "mysql+pymysql://root@127.0.0.1:3306/expensis?charset=utf8mb4",
    "mariadb+pymysql://bill%40ops:p%3Ass%2Fw@db.example/billing",
    "mysql+pymysql://bill:@[::1]:3307/billing",
    "mysql+pymysql://db.example/billing",
])
def test_a_pymysql_url_gives_the_connect_arguments_sqlalchemy_gives(url: str) -> None:
    target = target_of(url)
    _, opts = MySQLDialect_pymysql().create_connect_args(make_url(url))
    opts.pop("client_flag", None)  # FOUND_ROWS, added by both when connecting
    assert target.pymysql_args == opts


@pytest.mark.parametrize("url", [
    "not a url", "postgresql://bill@db/billing", "mysql://root@127.0.0.1/x", "mysql+mysqldb://root@h/x",
    "mysql+pymysql://root@h/x?ssl_ca=/etc/ca.pem", "mysql+pymysql://root@h:port/x",
    "sqlite://", "sqlite:///:memory:", "sqlite:///x.sqlite3?mode=ro", "sqlite://user@host/x.sqlite3",
])
def test_other_urls_go_through_sqlalchemy(url: str) -> None:
    with pytest.raises(NotQuick):
        target_of(url)


def test_an_unreachable_server_says_what_the_runtime_says(tmp_path: Path) -> None:
    url = "mysql+pymysql://root:secret@127.0.0.1:9/nope"
    with pytest.raises(DatabaseUnavailable) as quick:
        quickread.list_messages(Settings(data_dir=tmp_path, db_url=url))
    db = Database(url)
    with pytest.raises(DatabaseUnavailable) as full:
        db.check()
    db.dispose()
    assert str(quick.value) == str(full.value) and "secret" not in str(quick.value)


def test_a_new_database_file_is_created_with_its_schema_by_the_runtime(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    with pytest.raises(NotQuick):
        quickread.list_messages(Settings(data_dir=tmp_path, db_url=f"sqlite:///{path}"))
    assert not path.exists()
    code, out, err = invoke("--db", f"sqlite:///{path}", "--data-dir", str(tmp_path), "messages", "list", "--json")
    assert (code, json.loads(out)) == (0, []), err
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_database_behind_the_schema_is_refused_by_the_runtime(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    with db.transaction() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        code, _, err = invoke("--db", db_url, "--data-dir", str(tmp_path), "messages", "list", "--json")
        assert code == 3 and f"has schema 0001, this program needs {SCHEMA_HEAD}" in err, err
    finally:
        with db.transaction() as s:
            s.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": SCHEMA_HEAD})
        db.dispose()


def test_the_sqlite_file_is_made_private_as_the_runtime_makes_it(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "db" / "e.sqlite3"
    path.parent.mkdir()
    path.write_bytes(sqlite_template.read_bytes())
    path.chmod(0o644)
    data = tmp_path / "data"
    assert quickread.list_messages(Settings(data_dir=data, db_url=f"sqlite:///{path}")) == []
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(data.stat().st_mode & 0o777) == "0o700"


def test_acting_as_another_operator_is_still_checked(
        sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Naming another operator needs a role look-up: the runtime does it, and refuses."""
    (tmp_path / "e.sqlite3").write_bytes(sqlite_template.read_bytes())
    db = Database(f"sqlite:///{tmp_path / 'e.sqlite3'}")
    add_operator(db, "dave", ADMIN, operator="dave")
    add_operator(db, "vera", VIEWER, operator="dave")
    db.dispose()
    monkeypatch.delenv("EXPENSIS_ALLOW_OPERATOR_OVERRIDE")
    monkeypatch.setattr(Settings, "os_user", property(lambda self: "vera"))
    base = ("--db", f"sqlite:///{tmp_path / 'e.sqlite3'}", "--data-dir", str(tmp_path))
    code, _, err = invoke(*base, "--operator", "alice", "messages", "list", "--json")
    assert code == EXIT_NOT_ALLOWED and "vera is a viewer" in err, err
    assert invoke(*base, "--operator", "vera", "messages", "list", "--json")[0] == 0
