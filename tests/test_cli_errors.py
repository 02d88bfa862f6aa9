"""Operator mistakes through the CLI: one line on stderr, no traceback, the documented exit code."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from core.db import Database
from core.models import Cdr, ImportBatch, QuarantinedRow
from expensis_tui.cli import main
from tests.factories import HEADER, write_cdrs


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err


@pytest.mark.parametrize(("url", "says"), [
    ("not a url", "cannot be read: use SQLite"),
    ("postgresql://bill:secret@db.example/billing", "'postgresql' (postgresql://bill:***@db.example/billing) "
                                                    "is not supported"),
    ("mysql+pymysql://root:secret@127.0.0.1:9/nope", "is not reachable"),
    ("mysql+nosuchdriver://root@127.0.0.1/x", "driver not installed"),
])
def test_a_bad_database_url_is_one_line_and_exit_3(url: str, says: str, tmp_path: Path) -> None:
    code, _, err = invoke("--db", url, "--data-dir", str(tmp_path), "messages", "list")
    assert code == 3 and one_line(err) and says in err, err
    assert "secret" not in err


def test_a_sqlite_path_in_a_missing_directory_is_refused_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    url = f"sqlite:///{missing / 'x.sqlite3'}"
    for command in (("messages", "list"), ("daemon", "--threads", "1"), ("db", "upgrade")):
        code, _, err = invoke("--db", url, "--data-dir", str(tmp_path / "data"), *command)
        assert code == 3 and one_line(err) and f"no such directory: {missing}" in err, (command, err)
        assert not missing.parent.exists()
    code, out, err = invoke("--db", url, "--data-dir", str(tmp_path / "data"), "db", "upgrade", "--create")
    assert code == 0 and "created" in out, err
    assert (missing / "x.sqlite3").is_file() and oct(missing.stat().st_mode & 0o777) == "0o700"
    assert invoke("--db", url, "messages", "list")[0] == 0


def test_a_provider_name_longer_than_its_column_is_a_usage_error(db_url: str, tmp_path: Path) -> None:
    csv = write_cdrs(tmp_path / "cdrs.csv", [("r1", "+31610000001", "2026-10-05T09:00:00+02:00", "voice",
                                              "+31201234567", 60, 0, "0.0100")], HEADER)
    code, _, err = invoke("--db", db_url, "--operator", "alice", "cdr", "import", str(csv),
                          "--provider", "p" * 40)
    assert code == 2 and "Traceback" not in err and "a provider name has 1 to 32 characters, not 40" in err
    db = Database(db_url)
    try:
        with db.reader() as s:
            assert s.scalar(select(func.count()).select_from(ImportBatch)) == 0
    finally:
        db.dispose()


# -- a full disk --------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs: room for the schema and a little more (never skipped in CI)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs in CI: {done.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_exit_1_and_committed_rows_stay(
        small_disk: Path, sqlite_template: Path, tmp_path: Path) -> None:
    shutil.copyfile(sqlite_template, small_disk / "expensis.sqlite3")
    rows = [(f"ref-{n:06d}", "+31610000001", "2026-10-05T09:00:00+02:00", "voice", "+31201234567",
             60, 0, "0.0100") for n in range(40_000)]
    csv = write_cdrs(tmp_path / "big.csv", rows, HEADER)
    code, _, err = invoke("--data-dir", str(small_disk), "--operator", "alice", "cdr", "import", str(csv),
                          "--provider", "kpn_sp16")
    assert code == 1 and one_line(err) and err.startswith("error: disk full ("), err
    db = Database(f"sqlite:///{small_disk / 'expensis.sqlite3'}")
    try:
        with db.reader() as s:
            landed = (s.scalar(select(func.count()).select_from(Cdr)) or 0) + \
                     (s.scalar(select(func.count()).select_from(QuarantinedRow)) or 0)
        assert 0 < landed < len(rows)  # the batches committed before the disk filled are kept
    finally:
        db.dispose()
