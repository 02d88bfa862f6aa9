"""Issue 10: exact physical line numbers, a line length cap in bounded memory, gzip, no NULs."""

from __future__ import annotations

import gzip
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from core.billing.payments_csv import PaymentRowError, parse_payments_csv
from core.cdr_checks import CdrLimits
from core.db import Database, ensure_schema
from core.imports import ImportResult, import_cdrs
from core.models import Cdr, QuarantinedRow
from core.setup import SetupError, parse_setup
from providers.base import BadRow, ProviderCdr
from providers.csvformat import parse_cdr_csv
from providers.lines import LINE_CAP
from tests.factories import make_setup
from tests.test_cli_totals import cli
from tests.test_setup import EXAMPLE

A = "+31610000001"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LIMITS = CdrLimits(clock=lambda: NOW)
HEADER = b"provider_ref,number,call_date,call_type,destination,duration_s,volume_kb,provider_cost"


def row(ref: str, number: str = A) -> bytes:
    return f"{ref},{number},2026-11-02T10:00:00+01:00,voice,,60,0,0.10".encode()


def run(db: Database, path: Path) -> ImportResult:
    with path.open("rb") as stream:
        return import_cdrs(db, parse_cdr_csv(stream), provider="kpn_sp16", source=str(path), limits=LIMITS)


def quarantine(db: Database) -> dict[int, str]:
    with db.reader() as s:
        return {r.line: r.reason for r in s.scalars(select(QuarantinedRow))}


def test_quarantine_names_the_physical_line(db: Database, tmp_path: Path) -> None:
    make_setup(db)
    path = tmp_path / "cdrs.csv"
    path.write_bytes(b"\r\n".join([HEADER, b"", b"  ", row("q1", "+31699999999"), row("ok1"), b"",
                                   row("bad-date").replace(b"2026-11-02", b"2026-13-02"),
                                   row("q2", "+31699999998")]) + b"\r\n")
    result = run(db, path)
    assert (result.imported, result.quarantined) == (1, 3)
    found = quarantine(db)
    assert sorted(found) == [4, 7, 8]
    assert "+31699999999" in found[4] and "date" in found[7] and "+31699999998" in found[8]


def test_an_overlong_line_is_quarantined_and_its_neighbours_land(db: Database, tmp_path: Path) -> None:
    make_setup(db)
    path = tmp_path / "cdrs.csv"
    path.write_bytes(b"\n".join([HEADER, row("ok1"), b"x" * (LINE_CAP + 1), row("ok2"),
                                 row("q", "+31699999999")]) + b"\n")
    result = run(db, path)
    assert (result.imported, result.quarantined) == (2, 2)
    found = quarantine(db)
    assert "line longer than 65,536 bytes (65,537)" in found[3] and "+31699999999" in found[5]


def test_the_cap_is_the_line_s_text_from_a_file_as_from_lines(tmp_path: Path) -> None:
    """A line of exactly LINE_CAP bytes is read (here: one column, not eight), one byte more is
    too long; its line end (LF or CR LF) does not count, from a file as from a list of lines."""
    body = [HEADER, b"x" * LINE_CAP, b"y" * (LINE_CAP + 1), row("ok")]
    path = tmp_path / "cap.csv"
    for end in (b"\n", b"\r\n"):
        path.write_bytes(end.join(body) + end)
        with path.open("rb") as stream:
            from_file = list(parse_cdr_csv(stream))
        for records in (from_file, list(parse_cdr_csv(body))):
            exact, over, ok = records
            assert isinstance(exact, BadRow) and exact.line == 2 and "wrong column count: 1" in exact.reason
            assert isinstance(over, BadRow) and over.line == 3 and over.reason == "line longer than 65,536 bytes (65,537)"
            assert isinstance(ok, ProviderCdr) and ok.provider_ref == "ok"


def test_a_100_mb_line_is_never_held_whole(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.write(HEADER + b"\n" + row("ok1") + b"\n")
        block = b"9" * (1 << 20)
        for _ in range(100):
            handle.write(block)
        handle.write(b"\n" + row("ok2") + b"\n")
    tracemalloc.start()
    with path.open("rb") as stream:
        records = list(parse_cdr_csv(stream))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5 * (1 << 20), f"peak {peak:,} bytes"
    assert [type(r) for r in records] == [ProviderCdr, BadRow, ProviderCdr]
    bad = records[1]
    assert isinstance(bad, BadRow) and bad.line == 3 and "(104,857,600)" in bad.reason


def test_gzip_is_read_by_the_cli_and_the_generic_reader(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = Database(f"sqlite:///{data / 'expensis.sqlite3'}")
    ensure_schema(db)
    make_setup(db)
    path = tmp_path / "cdrs.csv.gz"
    path.write_bytes(gzip.compress(b"\n".join([HEADER, row("g1"), row("g2")]) + b"\n"))
    code, out, err = cli(data, "cdr", "import", str(path), "--provider", "kpn_sp16")
    assert code == 0 and "imported 2, duplicates 0, quarantined 0" in out, err
    damaged = tmp_path / "damaged.csv.gz"
    damaged.write_bytes(path.read_bytes()[:-12])
    code, _, err = cli(data, "cdr", "import", str(damaged), "--provider", "kpn_sp16")
    assert code == 1 and "compressed file is damaged" in err and "Traceback" not in err
    with db.reader() as s:
        assert sorted(s.scalars(select(Cdr.provider_ref))) == ["g1", "g2"]
    db.dispose()


def test_a_compressed_payments_file_is_refused_in_words(tmp_path: Path) -> None:
    path = tmp_path / "payments.csv.gz"
    path.write_bytes(gzip.compress(b"invoice_number;amount;date\nF1;10.00;2026-11-01\n"))
    (error,) = list(parse_payments_csv(path))
    assert isinstance(error, PaymentRowError) and "compressed file: use `gunzip payments.csv.gz`" in error.reason


@pytest.mark.parametrize(("old", "new"), [('code = "ACME"', 'code = "AC\\u0000ME"'),
                                          ('name = "Acme B.V."', 'name = "Acme\\u001bB.V."'),
                                          ('code = "ACME"', 'code = "ACME\\n"')])
def test_control_characters_are_refused_in_setup_codes_and_names(old: str, new: str) -> None:
    assert old in EXAMPLE
    with pytest.raises(SetupError, match=r"contains a control character \(U\+00"):
        parse_setup(EXAMPLE.replace(old, new))


def test_control_characters_are_refused_in_cdr_fields(db: Database, tmp_path: Path) -> None:
    make_setup(db)
    path = tmp_path / "cdrs.csv"
    path.write_bytes(b"\n".join([HEADER, row("a\x00b"), row("ok"),
                                 row("d").replace(b",voice,,", b",voice,+3120\x01,")]) + b"\n")
    result = run(db, path)
    assert (result.imported, result.quarantined) == (1, 2)
    found = quarantine(db)
    assert "provider_ref contains a control character (U+0000)" in found[2]
    assert 4 in found
