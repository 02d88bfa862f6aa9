"""Engine and sessions for SQLite (default) and MySQL/MariaDB, and schema migrations.

SQLite: WAL, a busy timeout and foreign keys on every connection; write
transactions start with BEGIN IMMEDIATE so two writers queue on the busy
timeout instead of failing on a lock upgrade. Readers use `Database.reader`
(plain deferred BEGIN) and never block behind writers in WAL mode.
MySQL/MariaDB: READ COMMITTED, which keeps SKIP LOCKED claims free of gap locks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.schema_head import SCHEMA_HEAD
from core.security.files import PRIVATE_FILE, private_dir, private_file, tighten

MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened; the message is for the operator."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _mysql_strict(dbapi_conn: Any, _record: Any) -> None:
    """Strict mode whatever the server default: an out-of-range value is an error, never clipped."""
    cur = dbapi_conn.cursor()
    cur.execute("SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_TRANS_TABLES')")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    mode = "BEGIN" if conn.get_execution_options().get("readonly") else "BEGIN IMMEDIATE"
    conn.exec_driver_sql(mode)


SUPPORTED = "SQLite (sqlite:///path/to/file.sqlite3) or MariaDB/MySQL (mysql+pymysql://user@host/name)"


def parse_url(url: str) -> URL:
    """The URL of a supported database, or DatabaseUnavailable saying what is wrong with it."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUnavailable(f"database URL {safe_url(url)!r} cannot be read: use {SUPPORTED}") from None
    if parsed.get_backend_name() not in ("sqlite", "mysql", "mariadb"):
        raise DatabaseUnavailable(f"database {parsed.get_backend_name()!r} ({safe_url(url)}) is not "
                                  f"supported: use {SUPPORTED}")
    return parsed


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL (None in memory)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def prepare_sqlite_file(path: Path, *, create: bool) -> None:
    """The database file, 0600 with its WAL/SHM files; its directory is made only when asked.

    A typo in a path must not quietly become a new, empty database that a daemon then leads.
    SQLite gives the -wal/-shm files the database file's mode, so creating it 0600 covers them.
    """
    if not path.parent.is_dir():
        if not create:
            raise DatabaseUnavailable(f"no such directory: {path.parent} (for database {path.name}); "
                                      "`expensis db upgrade --create` creates it")
        private_dir(path.parent)
    private_file(path)
    for extra in ("-wal", "-shm"):
        tighten(path.with_name(path.name + extra), PRIVATE_FILE)


def make_engine(url: str, *, create: bool = False, **kwargs: Any) -> Engine:
    parsed = parse_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            path = sqlite_file(parsed)
            if path is not None:
                prepare_sqlite_file(path, create=create)
            engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30},
                                   pool_size=10, max_overflow=20, **kwargs)
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        engine = create_engine(parsed, isolation_level="READ COMMITTED", pool_pre_ping=True,
                               pool_recycle=3600, pool_size=10, max_overflow=20, **kwargs)
        event.listen(engine, "connect", _mysql_strict)
        return engine
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise DatabaseUnavailable(f"database {safe_url(url)}: driver not installed ({exc})") from exc


class Database:
    """An engine plus the session factories every layer uses."""

    def __init__(self, url: str, *, create: bool = True, **engine_kwargs: Any) -> None:
        """`create`: make a SQLite file's missing directory (0700). The runtime passes False
        for a path the operator typed, so a typo is refused rather than made a new database."""
        self.url = url
        self.engine = make_engine(url, create=create, **engine_kwargs)
        self.reader_engine = self.engine.execution_options(readonly=True)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.readers = sessionmaker(self.reader_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_mysql(self) -> bool:
        return self.dialect in ("mysql", "mariadb")

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction: commits on success, rolls back on error."""
        with self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def reader(self) -> Iterator[Session]:
        with self.readers() as session:
            yield session

    def check(self) -> None:
        try:
            with self.reader_engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            raise DatabaseUnavailable(describe_db_error(self.url, exc)) from exc

    def dispose(self) -> None:
        self.engine.dispose()


def database_now(conn: Connection) -> datetime:
    """The database server's clock, as aware UTC (leases compare against it, not the host's)."""
    if conn.dialect.name in ("mysql", "mariadb"):
        value: Any = conn.execute(text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
    elif conn.dialect.name == "sqlite":
        value = conn.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
    else:
        value = conn.execute(text("SELECT CURRENT_TIMESTAMP")).scalar_one()
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def describe_db_error(url: str, exc: BaseException) -> str:
    orig = getattr(exc, "orig", exc)
    return f"database {safe_url(url)} is not reachable: {orig}"


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is still shown, minus nothing secret
        return url.split("@")[-1]


def alembic_config(db: Database) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = db.engine
    return cfg


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return str(row[0]) if row else None




def head_revision(db: Database) -> str:
    """The revision the code expects (the head of the migration files)."""
    return SCHEMA_HEAD


def migrations_head() -> str:
    """The head read from the migration files themselves (imports alembic)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def upgrade(db: Database) -> None:
    from alembic import command

    command.upgrade(alembic_config(db), "head")


def ensure_schema(db: Database) -> bool:
    """Apply pending migrations; True when something was applied."""
    db.check()
    if current_revision(db) == head_revision(db):
        return False
    upgrade(db)
    return True
