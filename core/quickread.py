"""Reads for short-lived commands straight on the DB-API driver, without SQLAlchemy (issue 14.3).

Importing SQLAlchemy costs a command such as `expensis messages list --json` 0.2-0.3 CPU
seconds for a 3 ms query. Here the driver (sqlite3 or pymysql) runs the same statement the
ORM query runs and the values come back as the model's column types return them.

Only the common case is handled: a SQLite file or a mysql+pymysql URL, a database at the
schema head. Anything else (another URL form, a missing file or directory, an empty or
older database) is `NotQuick`, and the caller takes the full path, which creates, refuses
or explains it exactly as before. A server that cannot be reached is `DatabaseUnavailable`
with the full path's message, so it is not waited for twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

from core.config import Settings
from core.schema_head import SCHEMA_HEAD
from core.security.files import PRIVATE_FILE, private_dir, private_file, tighten

# core.bus.bus.STATUSES (the message table's status values), for the same reason.
MESSAGE_STATUSES: Final = ("queued", "running", "done", "failed", "discarded")


class NotQuick(Exception):
    """This database or setting needs the full path (the message says why, for the debug log)."""


@dataclass(frozen=True)
class MessageState:
    """A message's identity and where it stands: the first fields of every listing of messages."""

    id: int
    command_type: str
    status: str
    attempts: int
    max_attempts: int
    workflow_id: str


@dataclass(frozen=True)
class MessageRow(MessageState):
    available_at: datetime
    created_at: datetime
    finished_at: datetime | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# sqlalchemy.engine.url's pattern, so that a URL means here what it means to create_engine.
_URL = re.compile(r"""
    (?P<name>[\w\+]+)://
    (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
    (?:(?:\[(?P<ipv6host>[^/\?]+)\]|(?P<ipv4host>[^/:\?]+))?(?::(?P<port>[^/\?]*))?)?
    (?:/(?P<database>[^\?]*))?
    (?:\?(?P<query>.*))?
    """, re.X)
_SQLITE = ("sqlite", "sqlite+pysqlite")
_PYMYSQL = ("mysql+pymysql", "mariadb+pymysql")
_PYMYSQL_QUERY = {"charset"}  # what else a URL may pass to the driver is left to SQLAlchemy


@dataclass(frozen=True)
class Target:
    """Where a URL points: a SQLite file, or pymysql's connect arguments."""

    sqlite_file: Path | None = None
    pymysql_args: dict[str, Any] | None = None


def target_of(url: str) -> Target:
    """The database a URL names, when it is one of the plain forms read here."""
    m = _URL.fullmatch(url)
    if m is None:
        raise NotQuick("not a URL this module reads")
    name = m["name"]
    host = m["ipv4host"] or m["ipv6host"]
    query = parse_qsl(m["query"]) if m["query"] is not None else []
    if name in _SQLITE:
        database = unquote(m["database"] or "")
        if m["username"] is not None or host or m["port"] or query or database in ("", ":memory:"):
            raise NotQuick("a SQLite URL with more than a file path")
        return Target(sqlite_file=Path(database))
    if name in _PYMYSQL:
        keys = [key for key, _ in query]
        if set(keys) - _PYMYSQL_QUERY or len(keys) != len(set(keys)):
            raise NotQuick("URL options other than charset")
        args: dict[str, Any] = dict(query)
        for key, value in (("user", m["username"]), ("password", m["password"]),
                           ("database", m["database"])):
            if value:  # an empty one is left to the driver's default, as SQLAlchemy leaves it
                args[key] = unquote(value)
        if host:
            args["host"] = host
        if m["port"]:
            if not m["port"].isdigit():
                raise NotQuick("a port that is not a number")
            args["port"] = int(m["port"])
        return Target(pymysql_args=args)
    raise NotQuick(f"driver {name!r}")


class Reader:
    """One read transaction on a DB-API connection."""

    def __init__(self, conn: Any, *, mysql: bool) -> None:
        self._conn = conn
        self.mysql = mysql
        self.param = "%s" if mysql else "?"  # the driver's placeholder

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self._conn.cursor()
        try:
            cur.execute(sql, tuple(params))
            return list(cur.fetchall())
        finally:
            cur.close()

    def utc(self, value: Any) -> datetime | None:
        """A UtcDateTime column's value as the model returns it: aware UTC (SQLite stores text)."""
        if value is None:
            return None
        moment: datetime = value if self.mysql else datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC)


@contextmanager
def reader(settings: Settings) -> Iterator[Reader]:
    """A read transaction on the configured database at the schema head, opened as
    core.runtime.Runtime.db and core.db.make_engine open it (the same files made private,
    the same busy timeout and isolation level); NotQuick for anything they would create,
    migrate or refuse."""
    target = target_of(settings.database_url)
    private_dir(settings.data_dir)
    if target.sqlite_file is not None:
        conn, driver_error = _sqlite(target.sqlite_file)
    else:
        conn, driver_error = _pymysql(settings.database_url, target.pymysql_args or {})
    try:
        read = Reader(conn, mysql=target.sqlite_file is None)
        try:
            version = read.rows("SELECT version_num FROM alembic_version")
        except driver_error as exc:  # no such table: a new database, whose schema is made
            raise NotQuick(f"no schema version ({exc})") from exc
        if version != [(SCHEMA_HEAD,)]:
            raise NotQuick(f"schema {version} is not {SCHEMA_HEAD}")
        try:
            yield read
        except driver_error as exc:  # the full path says what is wrong in its own words
            raise NotQuick(f"{type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()


def _sqlite(path: Path) -> tuple[Any, type[Exception]]:
    import sqlite3

    if not path.is_file():  # a missing directory is refused, a missing file made, by core.db
        raise NotQuick(f"no database file {path}")
    # as core.db.prepare_sqlite_file: the database and its WAL files readable by their owner only
    private_file(path)
    for extra in ("-wal", "-shm"):
        tighten(path.with_name(path.name + extra), PRIVATE_FILE)
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA query_only=ON")  # a read path: no write even by mistake
        conn.execute("BEGIN")  # deferred, as Database.reader's: never waits for a writer in WAL
    except sqlite3.Error as exc:
        raise NotQuick(f"sqlite3: {exc}") from exc
    return conn, sqlite3.Error


def _pymysql(url: str, args: dict[str, Any]) -> tuple[Any, type[Exception]]:
    import pymysql
    from pymysql.constants import CLIENT

    try:
        conn = pymysql.connect(**args, client_flag=CLIENT.FOUND_ROWS)
    except pymysql.err.MySQLError as exc:
        from core.db import DatabaseUnavailable, describe_db_error  # only on this error

        raise DatabaseUnavailable(describe_db_error(url, exc)) from exc
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    except pymysql.err.MySQLError as exc:
        conn.close()
        raise NotQuick(f"pymysql: {exc}") from exc
    return conn, pymysql.err.MySQLError


_MESSAGE_ROW = ("id, command_type, status, attempts, max_attempts, workflow_id, available_at, "
                "created_at, finished_at, error")


def list_messages(settings: Settings, *, status: str | None = None, command_type: str | None = None,
                  workflow_id: str | None = None, limit: int = 100, offset: int = 0) -> list[MessageRow]:
    """core.bus.queries.list_messages, newest first, without SQLAlchemy (or NotQuick)."""
    filters = [(column, value) for column, value in (
        ("status", status), ("command_type", command_type), ("workflow_id", workflow_id)) if value]
    with reader(settings) as read:
        where = " AND ".join(f"{column} = {read.param}" for column, _ in filters)
        sql = (f"SELECT {_MESSAGE_ROW} FROM message{' WHERE ' + where if where else ''} "
               f"ORDER BY id DESC LIMIT {read.param} OFFSET {read.param}")
        return [MessageRow(*r[:6], *map(read.utc, r[6:9]), *r[9:])
                for r in read.rows(sql, [*(value for _, value in filters), limit, offset])]
