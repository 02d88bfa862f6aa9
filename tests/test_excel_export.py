"""Excel (write-only, streaming) and CSV exports, read back and compared exactly."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tracemalloc
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from core.billing.lines import UsageTotal
from core.exports.csv_writer import write_csv
from core.exports.excel import (
    DURATION_FORMAT,
    MONEY4_FORMAT,
    MONEY_FORMAT,
    Column,
    ExportCdr,
    seconds_as_days,
    write_customer_excel,
    write_rows_excel,
)

D = Decimal
ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 10, 1)


def generate_cdrs(count: int) -> Iterator[ExportCdr]:
    """Deterministic CDRs ordered by call type, then call date (as the export query gives them)."""
    types = ("voice", "sms", "data")
    for i in range(count):
        call_type = types[i * 3 // count]
        yield ExportCdr(
            number=f"+316{i % 5000:08d}",
            call_date=START + timedelta(seconds=10 * i),
            call_type=call_type,
            destination="NL mobiel" if i % 4 else "BE vast",
            duration_s=(i % 3600) if call_type == "voice" else 0,
            volume_kb=(i % 9000) if call_type == "data" else 0,
            provider_cost=D(i % 1000) / 10000,  # 0.0000 .. 0.0999
            rated_amount=D(i % 7777) / 10000,  # 0.0000 .. 0.7776
            cost_centre=f"KP-{i % 7}" if i % 3 else None,
        )


def _decimal(value: object) -> Decimal:
    # Excel stores doubles; the shortest repr of a double read back is the 4-dp decimal written.
    assert isinstance(value, int | float), value
    return D(repr(value)) if isinstance(value, float) else D(value)


def _seconds(value: object) -> int:
    assert isinstance(value, timedelta), value
    return round(value.total_seconds())


@dataclass
class Sums:
    count: int = 0
    seconds: int = 0
    volume: int = 0
    cost: Decimal = D(0)
    amount: Decimal = D(0)


def _sheet_sums(path: Path) -> dict[str, Sums]:
    """Per CDR sheet: row count and exact sums of duration, volume and the two amounts."""
    workbook = load_workbook(path, read_only=True)
    sums: dict[str, Sums] = {}
    for sheet in workbook.worksheets[1:]:
        rows = sheet.iter_rows(values_only=True)
        header = list(next(rows))
        cost_at, amount_at = header.index("Inkoop"), header.index("Bedrag")
        duration_at = header.index("Duur") if "Duur" in header else None
        volume_at = header.index("Volume (KB)") if "Volume (KB)" in header else None
        entry = sums[sheet.title] = Sums()
        for row in rows:
            entry.count += 1
            entry.cost += _decimal(row[cost_at])
            entry.amount += _decimal(row[amount_at])
            if duration_at is not None:
                entry.seconds += _seconds(row[duration_at])
            if volume_at is not None:
                entry.volume += int(row[volume_at])
    workbook.close()
    return sums


def _expected_sums(cdrs: Iterator[ExportCdr]) -> dict[str, Sums]:
    names = {"voice": "Bellen", "sms": "Sms", "data": "Data"}
    sums: dict[str, Sums] = {}
    for cdr in cdrs:
        entry = sums.setdefault(names[cdr.call_type], Sums())
        entry.count += 1
        entry.seconds += cdr.duration_s
        entry.volume += cdr.volume_kb
        entry.cost += cdr.provider_cost
        entry.amount += cdr.rated_amount
    return sums


TOTALS = [
    UsageTotal("+31600000001", "voice", 10, 3725, 0, D("1.2345")),
    UsageTotal("+31600000002", "voice", 3, 61, 0, D("0.5000")),
    UsageTotal("+31600000001", "sms", 12, 0, 0, D("0.9600")),
    UsageTotal("+31600000001", "data", 5, 0, 2048, D("0.0040")),
]


def test_customer_workbook_layout(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    progress: list[int] = []
    written = write_customer_excel(
        path,
        title="Bakkerij De Korenschoof - oktober 2026",
        cdrs=generate_cdrs(30),
        totals=TOTALS,
        progress=progress.append,
    )
    assert written == 30
    assert progress == [30]

    workbook = load_workbook(path)
    assert workbook.sheetnames == ["Totalen", "Bellen", "Sms", "Data"]
    assert workbook.properties.title == "Bakkerij De Korenschoof - oktober 2026"

    voice = workbook["Bellen"]
    assert voice.freeze_panes == "A2"
    assert voice.auto_filter.ref == "A1:G11"
    header = [cell.value for cell in voice[1]]
    assert header == ["Nummer", "Datum", "Bestemming", "Duur", "Inkoop", "Bedrag", "Kostenplaats"]
    assert all(cell.font.b for cell in voice[1])
    first = voice[2]
    assert first[1].value == START
    assert first[3].number_format == DURATION_FORMAT
    assert first[4].number_format == MONEY4_FORMAT
    second = voice[3]
    assert second[0].value == "+31600000001"
    assert second[3].value == timedelta(seconds=1)
    assert (_decimal(second[4].value), _decimal(second[5].value)) == (D("0.0001"), D("0.0001"))
    assert second[6].value == "KP-1"
    assert voice.max_row == 11  # header + CDRs 0..9

    sms_header = [cell.value for cell in workbook["Sms"][1]]
    assert "Duur" not in sms_header and "Volume (KB)" not in sms_header
    assert "Volume (KB)" in [cell.value for cell in workbook["Data"][1]]

    totals = workbook["Totalen"]
    assert totals["A1"].value == "Bakkerij De Korenschoof - oktober 2026"
    assert totals.freeze_panes == "A4"
    assert totals.auto_filter.ref == "A3:F7"  # header and the four totals, not the summary
    assert [cell.value for cell in totals[3]] == [
        "Abonnement", "Type", "Aantal", "Duur", "Volume (KB)", "Bedrag",
    ]  # fmt: skip
    assert totals["D4"].value == timedelta(seconds=3725)  # shown as 1:02:05
    assert totals["F4"].number_format == MONEY_FORMAT
    summary = [[cell.value for cell in row] for row in totals.iter_rows(min_row=9)]
    # voice: 10 + 3 calls, 3725 + 61 = 3786 s, 1.2345 + 0.5000 = 1.7345
    assert summary[0][:3] == ["Totaal bellen", "voice", 13]
    assert summary[0][3] == timedelta(seconds=3786)
    assert _decimal(summary[0][5]) == D("1.7345")
    assert summary[1][0] == "Totaal sms"
    assert summary[2][0] == "Totaal data"
    # 1.7345 + 0.9600 + 0.0040 = 2.6985
    assert summary[3][0] == "Totaal"
    assert _decimal(summary[3][5]) == D("2.6985")


def test_english_labels(tmp_path: Path) -> None:
    path = tmp_path / "en.xlsx"
    write_customer_excel(path, title="T", cdrs=generate_cdrs(3), totals=[], language="en")
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["Totals", "Voice", "SMS", "Data"]
    assert workbook["Voice"]["E1"].value == "Provider cost"


def test_unordered_call_types_still_land_on_their_sheets(tmp_path: Path) -> None:
    cdrs = list(generate_cdrs(12))
    shuffled = cdrs[8:] + cdrs[:4] + cdrs[4:8]  # data, voice, sms: sheets come out in order
    path = tmp_path / "x.xlsx"
    assert write_customer_excel(path, title="x", cdrs=iter(shuffled), totals=[]) == 12
    assert load_workbook(path).sheetnames == ["Totalen", "Bellen", "Sms", "Data"]
    assert _sheet_sums(path) == _expected_sums(iter(cdrs))


def test_no_cdrs_gives_only_the_totals_sheet(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    assert write_customer_excel(path, title="Leeg", cdrs=[], totals=[]) == 0
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["Totalen"]
    assert workbook["Totalen"]["A3"].value == "Abonnement"


def test_hostile_text_stays_text(tmp_path: Path) -> None:
    cdr = ExportCdr(
        number='=HYPERLINK("http://evil")',
        call_date=datetime(2026, 10, 1, 12, 0, tzinfo=UTC),
        call_type="voice",
        destination="NL\x00\x07 mobiel",
        duration_s=60,
        volume_kb=0,
        provider_cost=D("0.0100"),
        rated_amount=D("0.0200"),
        cost_centre=None,
    )
    path = tmp_path / "x.xlsx"
    write_customer_excel(path, title="x", cdrs=[cdr], totals=[])
    row = load_workbook(path)["Bellen"][2]
    assert row[0].data_type == "s"
    assert row[0].value == '=HYPERLINK("http://evil")'
    assert row[1].value == datetime(2026, 10, 1, 12, 0)  # wall time kept, zone dropped
    assert row[2].value == "NL mobiel"  # control characters removed


def test_failed_export_leaves_no_file(tmp_path: Path) -> None:
    def broken() -> Iterator[ExportCdr]:
        yield from generate_cdrs(5)
        raise RuntimeError("database went away")

    path = tmp_path / "x.xlsx"
    with pytest.raises(RuntimeError):
        write_customer_excel(path, title="x", cdrs=broken(), totals=[])
    assert list(tmp_path.iterdir()) == []


def test_memory_stays_flat_as_rows_grow(tmp_path: Path) -> None:
    """tracemalloc peak for 4,000 rows is no more than for 500 rows plus 1 MB.

    The peak is about 0.45 MB at every size from 500 to 8,000 rows; anything kept per row
    above 300 bytes (1 MB over the 3,500 rows between the two) fails, as 2 MB over 1,000 and
    8,000 rows did, in half the time (tracemalloc makes every allocation slow).
    """

    def peak(rows: int) -> int:
        tracemalloc.start()
        try:
            write_customer_excel(
                tmp_path / f"{rows}.xlsx", title="x", cdrs=generate_cdrs(rows), totals=TOTALS
            )
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(500), peak(4_000)
    assert large < 40 * 2**20
    assert large < small + 2**20, (small, large)


_BIG_EXPORT = """
import json, sys
from pathlib import Path
from core.exports.excel import write_customer_excel
from tests.test_excel_export import TOTALS, generate_cdrs

def status_kb(field):
    # VmHWM is this process image's peak resident size; ru_maxrss would include the
    # forked copy of pytest from before exec.
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

before = status_kb("VmRSS")
calls = []
written = write_customer_excel(
    Path(sys.argv[1]), title="big", cdrs=generate_cdrs(int(sys.argv[2])), totals=TOTALS,
    progress=calls.append,
)
peak = status_kb("VmHWM")
print(json.dumps({"written": written, "rss_before_kb": before,
                  "rss_peak_kb": peak, "progress_calls": len(calls), "last": calls[-1]}))
"""

# 20,000 rows prove what 200,000 did (bounded memory, progress, exact read-back) in a tenth
# of the time; bench/invoices.py keeps the 200,000-CDR export and its memory. The resident
# peak grows by about 1 MB at 1,000, 10,000 and 50,000 rows alike, so the bound is 10 MB:
# anything kept per row above 520 bytes (10 MB / 20,000) fails it, where 40 MB over 50,000
# rows let up to 840 bytes a row through (a list of the ExportCdr rows themselves, about
# 550 bytes each, passed at 50,000 rows and fails here).
BIG_ROWS = 20_000
BIG_GROWTH_MB = 10


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc for memory")
def test_a_big_export_streams_in_flat_memory_and_reads_back_exactly(tmp_path: Path) -> None:
    # Measured in a fresh process: its peak resident memory, C allocations included, is
    # not inflated by earlier tests. (tracemalloc on 200k rows works too, peak < 1 MB,
    # but makes the run five times slower; the flatness test above uses it.)
    path = tmp_path / "big.xlsx"
    result = subprocess.run(
        [sys.executable, "-c", _BIG_EXPORT, str(path), str(BIG_ROWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=240,
    )
    report = json.loads(result.stdout)
    print(report)
    assert report["written"] == BIG_ROWS
    assert report["progress_calls"] == BIG_ROWS // 10_000 + 1  # every 10,000 rows, and at the end
    assert report["last"] == BIG_ROWS
    growth_mb = (report["rss_peak_kb"] - report["rss_before_kb"]) / 1024
    assert growth_mb < BIG_GROWTH_MB, growth_mb

    assert _sheet_sums(path) == _expected_sums(generate_cdrs(BIG_ROWS))


def test_write_rows_excel(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    sheets: dict[str, tuple[Sequence[str | Column], Iterable[Sequence[object]]]] = {
        "Kostenplaatsen": (
            [Column("Kostenplaats", width=20), Column("Bedrag", MONEY_FORMAT), "Aantal"],
            iter([("KP-1", D("10.005"), 3), ("KP-2", D("-2.50"), 1)]),
        ),
        "Verbruik": (
            ["Nummer", Column("Duur", DURATION_FORMAT), "Datum"],
            [("+31600000001", seconds_as_days(3661), date(2026, 10, 31))],
        ),
        "Leeg": (["Niets"], []),
    }
    assert write_rows_excel(path, sheets, title="Rapport") == 3
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["Kostenplaatsen", "Verbruik", "Leeg"]
    centres = workbook["Kostenplaatsen"]
    assert centres.freeze_panes == "A2"
    assert centres.auto_filter.ref == "A1:C3"
    assert centres["B2"].number_format == MONEY_FORMAT
    assert _decimal(centres["B2"].value) == D("10.005")  # stored exactly, shown as 10,01
    assert centres["C3"].value == 1
    usage = workbook["Verbruik"]
    assert usage["B2"].value == timedelta(hours=1, minutes=1, seconds=1)
    assert usage["C2"].value == datetime(2026, 10, 31)
    assert workbook["Leeg"].auto_filter.ref == "A1:A1"


def test_write_csv(tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.csv"
    rows = [
        ("KP-1", D("0.10"), D("1E+2"), 3, date(2026, 10, 31), datetime(2026, 10, 31, 23, 59, 1)),
        ('a, "quoted"\nname', D("-0.0001"), None, 0, None, None),
        ("+31612345678", D("12345678901234567890.1234"), True, -1, None, None),
    ]
    headers = ["name", "amount", "other", "count", "day", "moment"]
    assert write_csv(path, headers, rows) == 3
    data = path.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    assert data.splitlines()[1] == b"KP-1,0.10,100,3,2026-10-31,2026-10-31 23:59:01"
    with path.open(encoding="utf-8", newline="") as handle:
        read = list(csv.reader(handle))
    assert read[0] == headers
    assert read[2][:2] == ['a, "quoted"\nname', "-0.0001"]
    # no float anywhere: 24 significant digits survive
    assert read[3] == ["+31612345678", "12345678901234567890.1234", "true", "-1", "", ""]


def test_write_csv_refuses_floats_and_ragged_rows(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="Decimal"):
        write_csv(tmp_path / "a.csv", ["x"], [(0.1,)])
    with pytest.raises(ValueError, match="2 values for 1 columns"):
        write_csv(tmp_path / "b.csv", ["x"], [(1, 2)])
    assert list(tmp_path.iterdir()) == []


def test_write_csv_can_escape_formulas(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    write_csv(path, ["x", "y"], [("=1+1", D("-1"))], escape_formulas=True)
    assert path.read_text(encoding="utf-8").splitlines()[1] == "'=1+1,-1"


def _workbook_parts(path: Path) -> dict[str, bytes]:
    """Every part of an .xlsx but its timestamps, the XML canonicalised (C14N)."""
    import zipfile

    from lxml import etree

    parts = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name == "docProps/core.xml":  # created/modified times
                continue
            data = archive.read(name)
            parts[name] = etree.tostring(etree.fromstring(data), method="c14n") if name.endswith(".xml") else data
    return parts


def _mixed_workbooks(path: Path) -> None:
    cdrs = list(generate_cdrs(300))
    cdrs.append(replace_cdr(cdrs[-1], call_type="mms", destination="  padded  ",
                            call_date=datetime(2026, 10, 3, 9, 30, tzinfo=UTC)))
    cdrs.append(replace_cdr(cdrs[-1], destination="=1+1", cost_centre="#N/A"))
    cdrs.append(replace_cdr(cdrs[-1], destination="bad\x01text" + "x" * 40_000, cost_centre=""))
    totals = [UsageTotal("+31612345678", "voice", 3, 125, 0, D("1.2500")),
              UsageTotal("+31612345679", "data", 1, 0, 2048, D("0.0400"))]
    write_customer_excel(path / "customer.xlsx", title="Klant (K1) - CDRs 2026-10", cdrs=cdrs, totals=totals)
    write_rows_excel(path / "rows.xlsx", {"Mixed": (
        ["text", Column("when", "yyyy-mm-dd"), "plain date", "number", "flag", Column("money", MONEY_FORMAT)],
        [["a", date(2026, 10, 1), date(2026, 10, 2), 1.5, True, D("2.50")],
         [" b", datetime(2026, 10, 1, 12), datetime(2026, 10, 2, 13), float("nan"), False, 7],
         [None, None, timedelta(hours=2), 10**20, None, D("-0.0001")], []])})


def replace_cdr(cdr: ExportCdr, **changes: object) -> ExportCdr:
    from dataclasses import replace

    return replace(cdr, **changes)  # type: ignore[arg-type]


def test_rows_written_as_one_element_match_openpyxls_own_cells(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast row writer gives the same workbook as openpyxl writing each cell itself,
    down to the XML (canonicalised): same cells, types, styles, text and numbers."""
    import core.exports.workbook as workbook

    fast, plain = tmp_path / "fast", tmp_path / "plain"
    fast.mkdir()
    plain.mkdir()
    rows_written: list[int] = []
    real = workbook._row_element

    def counting(sheet: object, values: Sequence[object], row_idx: int) -> object:
        row = real(sheet, values, row_idx)  # type: ignore[arg-type]
        rows_written.append(row is not None)
        return row

    monkeypatch.setattr(workbook, "_row_element", counting)
    _mixed_workbooks(fast)
    monkeypatch.setattr(workbook.Sheet, "_hook_writer", lambda self, book: None)
    _mixed_workbooks(plain)
    assert sum(rows_written) > 300 and not all(rows_written)  # both paths were taken
    for name in ("customer.xlsx", "rows.xlsx"):
        assert _workbook_parts(fast / name) == _workbook_parts(plain / name), name
