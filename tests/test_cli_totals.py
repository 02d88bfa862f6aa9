"""`expensis cdr import` and `expensis totals ...` as a script would use them."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from click.testing import CliRunner

from core.db import Database, ensure_schema
from expensis_tui.cli import main
from tests.factories import make_setup, write_cdrs
from tests.test_totals import OCTOBER, A


def cli(data: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--data-dir", str(data), "--operator", "alice", *args],
                                catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def setup_db(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    data = tmp_path / "data"
    db = Database(f"sqlite:///{data / 'expensis.sqlite3'}")
    ensure_schema(db)
    ids = make_setup(db)
    db.dispose()
    return data, ids


def test_import_then_recalc_wait_then_show(tmp_path: Path) -> None:
    data, ids = setup_db(tmp_path)
    csv = write_cdrs(tmp_path / "oct.csv", OCTOBER)
    code, out, _ = cli(data, "cdr", "import", str(csv), "--provider", "kpn_sp16")
    assert code == 0 and "imported 7, duplicates 0, quarantined 0" in out
    code, out, _ = cli(data, "cdr", "import", str(csv), "--provider", "kpn_sp16", "--json")
    assert code == 0 and json.loads(out)["duplicates"] == 7

    code, out, _ = cli(data, "totals", "recalc", "ACME", "--cycle", "2026-10", "--wait")
    assert code == 0, out
    code, out, _ = cli(data, "totals", "show", "ACME", "--cycle", "2026-10", "--json")
    rated = {(r["number"], r["call_type"]): r["rated_amount"] for r in json.loads(out)}
    assert rated[(A, "voice")] == "2.6500" and rated[(A, "fee")] == "10.0000"

    code, out, _ = cli(data, "totals", "recalc", "ACME", "--cycle", "2026-10", "--dry-run")
    assert code == 0 and "no differences" in out
    code, out, _ = cli(data, "insights", "show", "ACME", "--cycle", "2026-10", "--json")
    assert code == 0 and any(i["kind"] == "margin" for i in json.loads(out))
    code, out, _ = cli(data, "totals", "history", "ACME", "--cycle", "2026-10")
    assert code == 0 and "1 version(s)" in out and "current" in out and "recalculation by alice" in out


def test_partner_recalc_over_a_month_range(tmp_path: Path) -> None:
    data, _ = setup_db(tmp_path)
    code, out, err = cli(data, "totals", "recalc", "--partner", "Partner A", "--from", "2026-08",
                         "--to", "2026-10", "--wait")
    assert code == 0, err
    code, out, _ = cli(data, "totals", "partner", "Partner A", "--cycle", "2026-09", "--json")
    fees = [r for r in json.loads(out) if r["call_type"] == "fee"]
    assert fees[0]["rated_amount"] == "20.0000"  # two subscriptions × €10 in September
    code, out, _ = cli(data, "messages", "list", "--json", "--limit", "200")
    workflows = {m["workflow_id"] for m in json.loads(out) if m["command_type"] == "DispatchTotals"}
    assert len(workflows) == 3  # one DispatchTotals per customer per month


def test_a_recalculation_of_a_month_not_begun_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A typo (2999 for 2026) made a current totals version of monthly fees not yet due."""
    data, _ = setup_db(tmp_path)
    code, out, err = cli(data, "totals", "recalc", "ACME", "--cycle", "2999-01")
    assert code == 2 and "ACME 2999-01 has not begun" in err and "Traceback" not in err, (out, err)
    code, out, err = cli(data, "totals", "recalc", "--partner", "Partner A", "--from", "2026-10", "--to", "2999-01")
    assert code == 2 and "has not begun" in err and "Traceback" not in err, (out, err)  # its first such month
    for dry in (("ACME", "--cycle", "2999-01"), ("--partner", "Partner A", "--from", "2026-10", "--to", "2999-01")):
        code, out, err = cli(data, "totals", "recalc", *dry, "--dry-run")  # it listed the fees as changes
        assert code == 2 and "has not begun" in err and "Traceback" not in err, (out, err)
    code, out, _ = cli(data, "messages", "list", "--json", "--limit", "200")
    assert json.loads(out) == []  # nothing dispatched, for the customer nor for any month of the partner's range
    code, out, _ = cli(data, "totals", "history", "ACME", "--cycle", "2999-01")
    assert code == 0 and "0 version(s)" in out, out


def test_import_exit_codes(tmp_path: Path) -> None:
    data, _ = setup_db(tmp_path)
    missing = tmp_path / "missing.csv"
    missing.write_text("provider_ref,number,call_type\nr1,+31610000001,voice\n")
    code, _, err = cli(data, "cdr", "import", str(missing), "--provider", "csv_file")
    assert code == 1 and "call_date" in err and "Traceback" not in err
    all_bad = write_cdrs(tmp_path / "bad.csv", [("q1", "+31699999999", "2026-10-01T10:00:00+02:00",
                                                  "voice", "", 1, 0, "0.1")])
    code, out, err = cli(data, "cdr", "import", str(all_bad), "--provider", "csv_file")
    # every row bad: said so, with where to read why (it once said "nothing could be read")
    assert code == 1 and "quarantined 1" in out and "no good row in bad.csv: all 1 quarantined" in err
    assert "expensis cdr quarantine" in err
    good = write_cdrs(tmp_path / "good.csv", [("g1", "+31610000001", "2026-10-01T10:00:00+02:00", "voice", "", 1, 0,
                                               "0.1")])
    code, out, _ = cli(data, "cdr", "import", str(good), "--provider", "csv_file")
    assert code == 0 and "1 customer-cycle(s) touched" in out
    code, out, _ = cli(data, "cdr", "import", str(good), "--provider", "csv_file")  # again: duplicates only
    assert code == 0 and "duplicates 1" in out and "touched" not in out
    header_only = tmp_path / "header.csv"
    header_only.write_text(all_bad.read_text().splitlines()[0] + "\n")
    code, _, err = cli(data, "cdr", "import", str(header_only), "--provider", "csv_file")
    assert code == 1 and "nothing could be read from header.csv: it has no data row" in err
    empty = tmp_path / "empty.csv"  # seen by an operator: a 0-byte file was said to have "no data row"
    empty.write_bytes(b"")
    code, _, err = cli(data, "cdr", "import", str(empty), "--provider", "csv_file")
    assert code == 1 and "nothing could be read from empty.csv: the file is empty (0 bytes)" in err
    code, _, err = cli(data, "totals", "show", "NOPE", "--cycle", "2026-10")
    assert code == 4 and "no customer with code 'NOPE'" in err
    assert date(2026, 10, 1)
