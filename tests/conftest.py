"""Fixtures: every test gets its own data directory and database, never the real config.

Storage tests take the `db` fixture, parametrized over SQLite and MariaDB. MariaDB is
required in CI (CI=true): if it does not answer, those tests fail rather than skip.
Locally, EXPENSIS_SKIP_MARIADB=1 deselects them explicitly.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, create_engine, func, text, update

from core.bus import WorkerPool
from core.db import Database, ensure_schema
from core.runtime import Runtime
from core.workflows import load_all

if TYPE_CHECKING:
    from providers.sandbox import SandboxServer

load_all()  # the workflow handlers, as the runtime registers them (tests build their own buses)

# Pilot waits for "idle" after every key and pause: it sleeps in windows of 20 ms until one
# window used under 5 % of it in CPU. A key costs two windows, so typing a path of 80
# characters took over 3 s of sleep and the console tests spent most of their time there.
# Windows of 10 ms keep the same 5 % rule and halve that wait; what a test asserts on is still
# reached through settle() (workers.wait_for_complete) and Pilot's count of pending messages,
# not through this heuristic.
# `textual._wait` is private: a Textual without it (or without these names) keeps its own
# windows rather than failing every test at import.
try:
    from textual import _wait
except ImportError:
    pass
else:
    if hasattr(_wait, "SLEEP_GRANULARITY") and hasattr(_wait, "SLEEP_IDLE"):
        _wait.SLEEP_GRANULARITY = 0.01
        _wait.SLEEP_IDLE = _wait.SLEEP_GRANULARITY / 20

MARIADB_ROOT = os.environ.get("EXPENSIS_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's config or writes their data dir."""
    isolate(tmp_path, monkeypatch)


def isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("EXPENSIS_") and key not in ("EXPENSIS_TEST_MARIADB", "EXPENSIS_SKIP_MARIADB"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("EXPENSIS_CONFIG", str(tmp_path / "no-config.toml"))
    # Tests act as alice, bob, vera... whoever runs them: the setting, not a weaker check.
    monkeypatch.setenv("EXPENSIS_ALLOW_OPERATOR_OVERRIDE", "1")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    db = Database(f"sqlite:///{path}")
    ensure_schema(db)
    db.dispose()
    return path


def _sqlite_copy(template: Path, target_dir: Path) -> str:
    target = target_dir / "expensis.sqlite3"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def mariadb_available() -> bool:
    try:
        with create_engine(MARIADB_ROOT + "/", connect_args={"connect_timeout": 3}).connect() as c:
            c.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


class MariaDbDatabases:
    """Creates throw-away databases (schema migrated) on the local MariaDB server."""

    def __init__(self) -> None:
        self.server = create_engine(MARIADB_ROOT + "/", isolation_level="AUTOCOMMIT")
        self.created: list[str] = []
        self.template: str | None = None

    def new(self) -> str:
        """A database with the migrated schema: copied from this worker's template, which
        is migrated once (running the migrations takes seconds on MariaDB, a copy a tenth)."""
        if self.template is None:
            self.template = self._create()
            db = Database(self._url(self.template))
            ensure_schema(db)
            db.dispose()
        name = self._create()
        copy_schema(self.server, self.template, name)
        return self._url(name)

    def _create(self) -> str:
        name = f"expensis_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with self.server.connect() as c:
            c.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
        self.created.append(name)
        return name

    @staticmethod
    def _url(name: str) -> str:
        return f"{MARIADB_ROOT}/{name}?charset=utf8mb4"

    def drop_all(self) -> None:
        with self.server.connect() as c:
            for name in self.created:
                c.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        self.server.dispose()


def copy_schema(server: Engine, source: str, target: str) -> None:
    """Every table of `source` (as SHOW CREATE TABLE gives it: columns, indexes, foreign
    keys, collations) and its rows (alembic_version, seeded rows) into `target`."""
    with server.connect() as c:
        c.execute(text("SET FOREIGN_KEY_CHECKS=0"))
        tables = [row[0] for row in c.execute(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": source})]
        c.execute(text(f"USE `{target}`"))
        for table in tables:
            ddl = c.execute(text(f"SHOW CREATE TABLE `{source}`.`{table}`")).one()[1]
            c.exec_driver_sql(ddl.replace("%", "%%"))
            c.execute(text(f"INSERT INTO `{target}`.`{table}` SELECT * FROM `{source}`.`{table}`"))
        c.execute(text("SET FOREIGN_KEY_CHECKS=1"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first; EXPENSIS_SKIP_MARIADB=1 (local use only) deselects MariaDB tests, loudly."""
    # xdist's worksteal gives each worker a contiguous share of this order and lets an idle
    # worker take the second half of the longest queue: with the long tests (marked slow) at
    # the front, none of them starts near the end and holds the run up alone. A stable sort:
    # the rest keep their order, and so do the slow ones among themselves.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if os.environ.get("EXPENSIS_SKIP_MARIADB") != "1":
        return
    if os.environ.get("CI"):
        raise pytest.UsageError("EXPENSIS_SKIP_MARIADB must not be set in CI")
    # by the marker, not `item.keywords`: those hold folder names too (a checkout in a folder
    # called "mariadb" had every test deselected)
    keep = [item for item in items if item.get_closest_marker("mariadb") is None]
    config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker("mariadb") is not None])
    items[:] = keep


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDbDatabases]:
    if not mariadb_available():
        pytest.fail(f"MariaDB is not answering at {MARIADB_ROOT}; start it (see .ci/run)")
    servers = MariaDbDatabases()
    yield servers
    servers.drop_all()


@pytest.fixture(scope="session")
def mariadb_pool(mariadb_server: MariaDbDatabases) -> Iterator[list[str]]:
    """A few migrated databases reused across tests (truncated between them)."""
    yield [mariadb_server.new() for _ in range(1)]


def _truncate(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("SET FOREIGN_KEY_CHECKS=0"))
        tables = [r[0] for r in c.execute(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
            "AND table_name <> 'alembic_version'"))]
        for table in tables:
            c.execute(text(f"DELETE FROM `{table}`"))
        c.execute(text("SET FOREIGN_KEY_CHECKS=1"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def db_url(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return _sqlite_copy(sqlite_template, tmp_path)
    url: str = request.getfixturevalue("mariadb_pool")[0]
    _truncate(url)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    database = Database(_sqlite_copy(sqlite_template, tmp_path))
    yield database
    database.dispose()


# -- the console's tests: the showcase data (fixed, with a frozen clock) -------------------------

@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def showcase_template(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    """A data directory with the showcase built in it, once per worker: `showcase_copy` copies it."""
    from expensis_tui.showcase import build, settings_for

    data_dir = tmp_path_factory.mktemp("showcase")
    shutil.copyfile(sqlite_template, data_dir / "expensis.sqlite3")
    with pytest.MonkeyPatch.context() as monkeypatch:  # session fixtures run before _isolated_env
        isolate(tmp_path_factory.mktemp("showcase-env"), monkeypatch)
        runtime = Runtime(settings_for(data_dir))
        try:
            build(runtime.db, runtime.settings)
        finally:
            runtime.close()  # the last connection closed: no -wal file is left beside the database
    return data_dir


def showcase_copy(template: Path, data_dir: Path) -> Runtime:
    """A runtime on `data_dir` holding what `build` would have written there: the template's
    database and the key its credentials are encrypted with. The invoices' PDF paths are the
    one place the showcase stores its data directory; they are moved to `data_dir`."""
    from core.models import Invoice
    from expensis_tui.showcase import settings_for

    for name in ("expensis.sqlite3", "secret.key"):
        shutil.copy2(template / name, data_dir / name)  # copy2: the key keeps its 0600
    runtime = Runtime(settings_for(data_dir))
    with runtime.db.transaction() as s:
        s.execute(update(Invoice).values(pdf_path=func.replace(Invoice.pdf_path, str(template), str(data_dir))))
    return runtime


@pytest.fixture
def rt(tmp_path: Path, showcase_template: Path) -> Iterator[Runtime]:
    """A runtime on a fresh copy of the showcase database (modules may define their own `rt`).

    Built once per worker and copied: building it took 0.2-0.4 s, and some 130 tests take it."""
    runtime = showcase_copy(showcase_template, tmp_path)
    yield runtime
    runtime.close()


@pytest.fixture
def pool(rt: Runtime) -> Iterator[WorkerPool]:
    """Bus workers for a test that drives the console (its own services stay off)."""
    workers = WorkerPool(rt.bus, 2, poll_interval=0.05, label="test").start()
    yield workers
    workers.stop(grace=10)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """The providers' sandbox over loopback HTTP, one per test module that asks for it."""
    from providers.sandbox import SandboxServer

    with SandboxServer() as server:
        yield server
