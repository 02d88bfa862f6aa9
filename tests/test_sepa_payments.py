"""Getting paid the Dutch way: betalingskenmerk, SEPA direct debit (pain.008), CAMT.053, reminders."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import xmlschema
from sqlalchemy import func, select, update

from core.billing import invoices as inv
from core.billing.bank import (
    check_digit,
    invoice_id_from_reference,
    is_valid_reference,
    payment_reference,
)
from core.billing.collections import CollectionError, add_business_days, collect
from core.billing.dunning import run_dunning
from core.billing.payments import customer_balances
from core.billing.statements import import_statement
from core.config import IssuerSettings, PaymentSettings, Settings
from core.db import Database
from core.models import Customer, Invoice, Payment
from core.models.payments import CollectionItem
from core.security.secrets import SecretBox
from core.setup import SetupError, apply_setup
from tests.test_invoices import ISSUE, OCT, billing_settings, put_totals, simple_customer
from tests.test_mail import Inbox, smtp_server  # noqa: F401  (the real SMTP peer fixture)

D = Decimal
DUE = ISSUE + timedelta(days=14)  # 2026-11-29, a Sunday
OUR_IBAN = "NL91ABNA0417164300"
BETA_IBAN, GAMMA_IBAN, ALFA_IBAN = "NL02ABNA0123456789", "NL20INGB0001234567", "NL39RABO0300065264"


# -- the betalingskenmerk ------------------------------------------------------------------------

def test_check_digit_of_the_currence_example() -> None:
    # Currence's own example (5)000 0567 8901 2345: from the right 5×2 + 4×4 + 3×8 + 2×5 + 1×10
    # + 0×9 + 9×7 + 8×3 + 7×6 + 6×1 + 5×2 = 215; 215 mod 11 = 6; 11 − 6 = 5.
    assert check_digit("000056789012345") == 5
    assert is_valid_reference("5000056789012345")
    assert not is_valid_reference("4000056789012345")


@pytest.mark.parametrize(("invoice_id", "reference"), [
    (12345, "7000000000012345"),  # 5×2 + 4×4 + 3×8 + 2×5 + 1×10 = 70; 70 mod 11 = 4; 11 − 4 = 7
    (6, "1000000000000006"),  # 6×2 = 12; 12 mod 11 = 1; 11 − 1 = 10, written as 1
    (19, "0000000000000019"),  # 9×2 + 1×4 = 22; 22 mod 11 = 0; 11 − 0 = 11, written as 0
])
def test_payment_reference_of_an_invoice(invoice_id: int, reference: str) -> None:
    assert payment_reference(invoice_id) == reference
    assert invoice_id_from_reference(f"factuur 2026-00001 kenmerk {reference[:4]} {reference[4:8]} "
                                     f"{reference[8:12]} {reference[12:]}") == invoice_id
    wrong = f"{(int(reference[0]) + 1) % 10}{reference[1:]}"
    assert invoice_id_from_reference(wrong) is None


# -- payment data in setup -----------------------------------------------------------------------

def setup_text(extra: str) -> str:
    return f'[[customer]]\ncode = "ACME"\nname = "Acme B.V."\n{extra}\n'


def apply(db: Database, text: str) -> None:
    apply_setup(db, text, secrets=SecretBox(SecretBox.generate_key()), operator="alice")


@pytest.mark.parametrize(("extra", "message"), [
    ('iban = "NL91ABNA0417164301"', "customer[0] (ACME).iban: 'NL91ABNA0417164301' is not a valid IBAN"),
    ('iban = "XX91ABNA0417164300"', "customer[0] (ACME).iban: 'XX91ABNA0417164300' is not a valid IBAN"),
    ('vat_number = "NL123456789B01"', "customer[0] (ACME).vat_number: 'NL123456789B01' is not a valid VAT"),
    ('payment_method = "direct_debit"\niban = "NL91ABNA0417164300"',
     "customer[0] (ACME).mandate_id: missing (required for payment_method = \"direct_debit\")"),
    ('payment_method = "direct_debit"\niban = "NL91ABNA0417164300"\nmandate_id = "M-1"',
     "customer[0] (ACME).mandate_date: missing"),
    ('payment_method = "cheque"', "customer[0] (ACME).payment_method: 'cheque' is not one of"),
    ('reminder_days = "21,7,35"', "customer[0] (ACME).reminder_days: '21,7,35': give three rising"),
])
def test_payment_data_errors_name_the_customer(sqlite_db: Database, extra: str, message: str) -> None:
    with pytest.raises(SetupError) as caught:
        apply(sqlite_db, setup_text(extra))
    assert str(caught.value).startswith(message)


def test_direct_debit_customer_gets_its_bic_from_the_iban(sqlite_db: Database) -> None:
    apply(sqlite_db, setup_text('payment_method = "direct_debit"\niban = "NL91 ABNA 0417 1643 00"\n'
                                'mandate_id = "ACME-2026-01"\nmandate_date = 2026-01-15\n'
                                'vat_number = "NL004495445B01"'))
    with sqlite_db.reader() as s:
        acme = s.scalars(select(Customer)).one()
    assert (acme.payment_method, acme.iban, acme.bic, acme.mandate_id, acme.mandate_date, acme.vat_number) == (
        "direct_debit", OUR_IBAN, "ABNANL2A", "ACME-2026-01", date(2026, 1, 15), "NL004495445B01")


# -- direct debit batches ------------------------------------------------------------------------

def sepa_settings(tmp_path: Path, **changes: object) -> Settings:
    settings = billing_settings(tmp_path)
    return replace(settings, issuer=replace(IssuerSettings(), iban=OUR_IBAN),
                   payments=replace(PaymentSettings(creditor_id="NL79ZZZ999999990000"), **changes))


def issue(db: Database, settings: Settings, code: str, fee: str, cycle: date = OCT,
          issue_date: date = ISSUE, **kwargs: object) -> tuple[int, str]:
    with db.reader() as s:
        existing = s.scalar(select(Customer.id).where(Customer.code == code))
    if existing is None:
        customer = simple_customer(db, code, fee=fee, **kwargs)
    else:
        customer = int(existing)
        sub = int(s_sub(db, customer))
        put_totals(db, customer, cycle, [(sub, "fee", 1, 0, 0, fee)])
    invoice_id = inv.draft_invoice(db, customer, cycle, settings=settings)
    return invoice_id, inv.finalize_invoice(db, invoice_id, issue_date=issue_date, settings=settings)


def s_sub(db: Database, customer_id: int) -> int:
    from core.models import Subscription

    with db.reader() as s:
        return int(s.scalars(select(Subscription.id).where(Subscription.customer_id == customer_id)).first() or 0)


def direct_debit(db: Database, code: str, iban: str, mandate: str) -> None:
    with db.transaction() as s:
        s.execute(update(Customer).where(Customer.code == code).values(
            payment_method="direct_debit", iban=iban, mandate_id=mandate, mandate_date=date(2026, 1, 10),
            email=f"ap@{code.lower()}.test"))


@pytest.fixture
def three(db: Database, tmp_path: Path) -> tuple[Settings, dict[str, tuple[int, str]]]:
    # ALFA 100.00 → 121.00 by transfer; BETA 200.00 → 242.00 and GAMMA 50.00 → 60.50 by direct debit.
    settings = sepa_settings(tmp_path)
    invoices = {code: issue(db, settings, code, fee) for code, fee in
                (("ALFA", "100.00"), ("BETA", "200.00"), ("GAMMA", "50.00"))}
    with db.transaction() as s:
        s.execute(update(Customer).where(Customer.code == "ALFA").values(iban=ALFA_IBAN))
    direct_debit(db, "BETA", BETA_IBAN, "BETA-M1")
    direct_debit(db, "GAMMA", GAMMA_IBAN, "GAMMA-M1")
    return settings, invoices


def pain008_schema() -> xmlschema.XMLSchema:
    import sepaxml

    return xmlschema.XMLSchema(str(Path(sepaxml.__file__).parent / "schemas" / "pain.008.001.02.xsd"))


def test_collect_builds_a_valid_pain008_and_never_collects_an_invoice_twice(
        db: Database, tmp_path: Path, three: tuple[Settings, dict[str, tuple[int, str]]]) -> None:
    settings, invoices = three
    today = date(2026, 11, 25)  # a Wednesday; lead time 1 business day → Thursday the 26th

    first = collect(db, settings, due_before=DUE, today=today, operator="alice")
    assert first.path is not None and first.batch_id is not None
    assert [(i.number, i.customer_code, i.amount, i.sequence_type, i.collection_date) for i in first.items] == [
        (invoices["BETA"][1], "BETA", D("242.00"), "FRST", DUE),
        (invoices["GAMMA"][1], "GAMMA", D("60.50"), "FRST", DUE),
    ]
    assert first.total == D("302.50")
    pain008_schema().validate(str(first.path))  # raises if the file does not validate
    xml = first.path.read_text()
    assert "<CtrlSum>302.50</CtrlSum>" in xml and "<MsgId>EXP-DD-" in xml
    assert f"<EndToEndId>EXP-{payment_reference(invoices['BETA'][0])}</EndToEndId>" in xml
    assert "<MndtId>GAMMA-M1</MndtId>" in xml and "<DtOfSgntr>2026-01-10</DtOfSgntr>" in xml
    assert oct(first.path.stat().st_mode & 0o777) == "0o600"

    second = collect(db, settings, due_before=DUE, today=today, operator="alice")
    assert (second.batch_id, second.items) == (None, ())  # nothing twice
    with db.reader() as s:
        assert s.scalar(select(func.count()).select_from(CollectionItem)) == 2

    # BETA's next invoice is a recurring collection on the same mandate.
    dec_id, dec_number = issue(db, settings, "BETA", "10.00", cycle=date(2026, 11, 1), issue_date=date(2026, 12, 15))
    third = collect(db, settings, due_before=date(2026, 12, 29), today=date(2026, 12, 28), operator="alice")
    assert [(i.number, i.sequence_type, i.amount, i.collection_date) for i in third.items] == [
        (dec_number, "RCUR", D("12.10"), date(2026, 12, 29))]  # lead time: Tuesday the 29th


def test_collection_date_respects_the_lead_time_over_weekends() -> None:
    assert add_business_days(date(2026, 11, 27), 1) == date(2026, 11, 30)  # Friday → Monday
    assert add_business_days(date(2026, 11, 27), 2) == date(2026, 12, 1)


def test_collect_without_a_creditor_id_says_what_to_set(db: Database, tmp_path: Path) -> None:
    settings = replace(sepa_settings(tmp_path), payments=PaymentSettings())
    with pytest.raises(CollectionError, match="set payments.creditor_id"):
        collect(db, settings, due_before=DUE, today=ISSUE, operator="alice")


# -- CAMT.053 ------------------------------------------------------------------------------------

def ntry(ref: str, amount: str, credit: bool, txs: str, booked: str = "2026-12-01") -> str:
    return (f"<Ntry><Amt Ccy=\"EUR\">{amount}</Amt><CdtDbtInd>{'CRDT' if credit else 'DBIT'}</CdtDbtInd>"
            f"<Sts>BOOK</Sts><BookgDt><Dt>{booked}</Dt></BookgDt><ValDt><Dt>{booked}</Dt></ValDt>"
            f"<AcctSvcrRef>{ref}</AcctSvcrRef><BkTxCd/><NtryDtls>{txs}</NtryDtls></Ntry>")


def tx(*, e2e: str = "NOTPROVIDED", amount: str | None = None, name: str = "", iban: str = "",
       strd: str = "", ustrd: str = "", reason: str = "", ref: str = "") -> str:
    parts = [f"<Refs>{f'<AcctSvcrRef>{ref}</AcctSvcrRef>' if ref else ''}<EndToEndId>{e2e}</EndToEndId></Refs>"]
    if amount:
        parts.append(f"<AmtDtls><TxAmt><Amt Ccy=\"EUR\">{amount}</Amt></TxAmt></AmtDtls>")
    parts.append(f"<RltdPties><Dbtr><Nm>{name}</Nm></Dbtr><DbtrAcct><Id><IBAN>{iban}</IBAN></Id></DbtrAcct>"
                 "</RltdPties>")
    if strd or ustrd:
        parts.append("<RmtInf>" + (f"<Ustrd>{ustrd}</Ustrd>" if ustrd else "")
                     + (f"<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry><Issr>CUR</Issr></Tp>"
                        f"<Ref>{strd}</Ref></CdtrRefInf></Strd>" if strd else "") + "</RmtInf>")
    if reason:
        parts.append(f"<RtrInf><Rsn><Cd>{reason}</Cd></Rsn></RtrInf>")
    return "<TxDtls>" + "".join(parts) + "</TxDtls>"


def statement(*entries: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
            "<GrpHdr><MsgId>STMT-20261201</MsgId><CreDtTm>2026-12-02T06:00:00</CreDtTm></GrpHdr>"
            f"<Stmt><Id>1</Id><CreDtTm>2026-12-02T06:00:00</CreDtTm><Acct><Id><IBAN>{OUR_IBAN}</IBAN></Id></Acct>"
            + "".join(entries) + "</Stmt></BkToCstmrStmt></Document>")


def test_camt053_applies_each_booking_once_and_a_return_reopens_the_invoice(
        db: Database, tmp_path: Path, three: tuple[Settings, dict[str, tuple[int, str]]]) -> None:
    settings, invoices = three
    today = date(2026, 12, 2)
    batch = collect(db, settings, due_before=DUE, today=date(2026, 11, 25), operator="alice")
    e2e = {item.customer_code: item.end_to_end_id for item in batch.items}
    alfa_reference = payment_reference(invoices["ALFA"][0])
    path = tmp_path / "statement.xml"
    path.write_text(statement(
        # ALFA pays by transfer, quoting the betalingskenmerk from the invoice
        ntry("ING-0001", "121.00", True, tx(name="Alfa B.V.", iban=ALFA_IBAN, strd=alfa_reference)),
        # the direct-debit batch is credited as one booking of two transactions
        ntry("ING-0002", "302.50", True,
             tx(e2e=e2e["BETA"], amount="242.00", name="Beta B.V.", iban=BETA_IBAN, ref="ING-0002-A")
             + tx(e2e=e2e["GAMMA"], amount="60.50", name="Gamma B.V.", iban=GAMMA_IBAN, ref="ING-0002-B")),
        # GAMMA's debit comes back: account closed
        ntry("ING-0003", "60.50", False, tx(e2e=e2e["GAMMA"], name="Gamma B.V.", iban=GAMMA_IBAN,
                                            reason="AC04"), booked="2026-12-02"),
        # a transfer nobody can place
        ntry("ING-0004", "15.00", True, tx(name="Vereniging", iban="NL18RABO0123459876", ustrd="lidmaatschap")),
        # the bank's fee: a debit that is not a returned collection
        ntry("ING-0005", "2.50", False, tx(name="ING Bank", ustrd="kosten")),
    ), encoding="utf-8")

    first = import_statement(db, path, settings=settings, operator="alice", today=today)
    assert [(a.invoice_number, a.entry.amount, a.matched_by) for a in first.applied] == [
        (invoices["ALFA"][1], D("121.00"), "payment reference"),
        (invoices["BETA"][1], D("242.00"), "end-to-end id"),
        (invoices["GAMMA"][1], D("60.50"), "end-to-end id"),
    ]
    assert [(a.invoice_number, a.entry.amount, a.entry.return_reason) for a in first.returned] == [
        (invoices["GAMMA"][1], D("-60.50"), "AC04")]
    assert [(a.entry.counterparty, a.entry.amount) for a in first.unmatched] == [("Vereniging", D("15.00"))]
    assert first.ignored == 1

    again = import_statement(db, path, settings=settings, operator="alice", today=today)
    assert (again.applied, again.returned, again.unmatched, again.duplicates) == ([], [], [], 5)

    with db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 5
        assert s.scalar(select(func.sum(Payment.amount))) == D("378.00")  # 121 + 242 + 60.50 − 60.50 + 15
        gamma = s.scalars(select(Customer).where(Customer.code == "GAMMA")).one()
        assert gamma.mandate_blocked is not None and gamma.mandate_blocked.startswith("AC04 account closed")
        item = s.scalars(select(CollectionItem).where(CollectionItem.end_to_end_id == e2e["GAMMA"])).one()
        assert (item.status, item.open_invoice_id) == ("returned", None)
    balances = {b.customer_code: (b.paid, b.open) for b in customer_balances(db, today)}
    assert balances == {"ALFA": (D("121.00"), D("0.00")), "BETA": (D("242.00"), D("0.00")),
                        "GAMMA": (D("0.00"), D("60.50"))}

    # the blocked mandate is not collected again; the operator sees why
    retry = collect(db, settings, due_before=today, today=today, operator="alice")
    assert retry.items == () and retry.skipped == (
        f"{invoices['GAMMA'][1]} (GAMMA): mandate blocked: AC04 account closed (booked 2026-12-02)",)


def test_camt053_matches_by_invoice_number_and_by_iban_and_amount(
        db: Database, tmp_path: Path, three: tuple[Settings, dict[str, tuple[int, str]]]) -> None:
    settings, invoices = three
    path = tmp_path / "statement.xml"
    path.write_text(statement(
        ntry("R-1", "121.00", True, tx(name="Alfa B.V.", iban="NL18RABO0123459876",
                                       ustrd=f"Factuur {invoices['ALFA'][1]}")),
        ntry("R-2", "60.50", True, tx(name="Gamma B.V.", iban=GAMMA_IBAN, ustrd="betaling")),
        ntry("R-3", "60.00", True, tx(name="Gamma B.V.", iban=GAMMA_IBAN, ustrd="betaling")),
    ), encoding="utf-8")
    result = import_statement(db, path, settings=settings, operator="alice", today=date(2026, 12, 2))
    assert [(a.invoice_number, a.matched_by) for a in result.applied] == [
        (invoices["ALFA"][1], "invoice number"), (invoices["GAMMA"][1], "IBAN and amount")]
    assert [a.entry.amount for a in result.unmatched] == [D("60.00")]  # no open invoice of exactly 60.00


def test_a_file_that_is_not_camt053_is_refused_in_one_line(db: Database, tmp_path: Path) -> None:
    from core.billing.camt import StatementError

    path = tmp_path / "statement.xml"
    path.write_text("<Document><Other/></Document>", encoding="utf-8")
    with pytest.raises(StatementError, match="not a CAMT.053 statement"):
        import_statement(db, path, settings=sepa_settings(tmp_path), operator="alice", today=ISSUE)
    path.write_text('<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document>&x;</Document>')
    with pytest.raises(StatementError):
        import_statement(db, path, settings=sepa_settings(tmp_path), operator="alice", today=ISSUE)


# -- reminders -----------------------------------------------------------------------------------

def test_reminders_on_day_7_21_35_once_each_and_none_after_payment(
        sqlite_db: Database, tmp_path: Path, smtp_server: Inbox) -> None:  # noqa: F811
    from core.config import SmtpSettings

    db = sqlite_db
    settings = replace(sepa_settings(tmp_path), smtp=SmtpSettings(host="127.0.0.1", port=smtp_server.port,
                                                                   sender="facturen@expensis.test"))
    alfa_id, alfa = issue(db, settings, "ALFA", "100.00")
    beta_id, beta = issue(db, settings, "BETA", "200.00")
    test_id, _ = issue(db, settings, "TEST", "10.00", test_mode=True)
    with db.transaction() as s:
        s.execute(update(Customer).values(email=None))
        s.execute(update(Customer).where(Customer.code == "ALFA").values(email="ap@alfa.test", language="en"))
        s.execute(update(Customer).where(Customer.code == "BETA").values(email="ap@beta.test"))
        s.execute(update(Customer).where(Customer.code == "TEST").values(email="ap@test.test"))

    assert run_dunning(db, settings, today=DUE + timedelta(days=6)).sent == ()  # day 6: nothing yet
    day7 = run_dunning(db, settings, today=DUE + timedelta(days=7))
    assert [(r.invoice_number, r.stage, r.recipient) for r in day7.sent] == [
        (alfa, "reminder", "ap@alfa.test"), (beta, "reminder", "ap@beta.test")]
    assert run_dunning(db, settings, today=DUE + timedelta(days=7)).sent == ()  # never twice
    assert len(smtp_server.messages) == 2
    english, dutch = smtp_server.messages
    assert english["Subject"] == f"Payment reminder: {alfa}" and english["To"] == "ap@alfa.test"
    assert dutch["Subject"] == f"Betalingsherinnering: {beta}"
    body = dutch.get_payload()[0].get_payload(decode=True).decode()
    reference = payment_reference(beta_id)
    assert f"{reference[:4]} {reference[4:8]} {reference[8:12]} {reference[12:]}" in body
    assert "€ 242,00" in body
    assert [part.get_filename() for part in dutch.get_payload()[1:]] == [f"{beta}.pdf"]

    # BETA pays: no more reminders for it; ALFA goes on to the second one and the formal notice.
    with db.transaction() as s:
        s.add(Payment(fingerprint="manual-1", paid_on=DUE + timedelta(days=10), amount=D("242.00"),
                      reference=beta, counterparty="Beta B.V.", invoice_id=beta_id))
    day21 = run_dunning(db, settings, today=DUE + timedelta(days=21))
    assert [(r.invoice_number, r.stage) for r in day21.sent] == [(alfa, "second_reminder")]
    day35 = run_dunning(db, settings, today=DUE + timedelta(days=40))
    assert [(r.invoice_number, r.stage) for r in day35.sent] == [(alfa, "formal_notice")]
    assert smtp_server.messages[-1]["Subject"] == f"Formal notice: {alfa}"
    assert run_dunning(db, settings, today=DUE + timedelta(days=60)).sent == ()
    assert len(smtp_server.messages) == 4
    with db.reader() as s:  # the test-mode customer's invoice was never reminded
        assert s.get_one(Invoice, test_id).test_mode is True
    assert not any("test.test" in str(m["To"]) for m in smtp_server.messages)


# -- the PDF and the CLI ------------------------------------------------------------------------

def test_the_invoice_pdf_prints_its_betalingskenmerk_or_the_direct_debit(
        db: Database, tmp_path: Path, three: tuple[Settings, dict[str, tuple[int, str]]]) -> None:
    from tests.test_invoices import pdf_text

    settings, invoices = three
    with db.reader() as s:
        alfa = pdf_text(inv.ensure_pdf_in(s, s.get_one(Invoice, invoices["ALFA"][0]), settings))
    # the PDF is rendered once, at issue: BETA's next invoice is the first issued under its mandate
    november, _ = issue(db, settings, "BETA", "10.00", cycle=date(2026, 11, 1), issue_date=date(2026, 12, 15))
    with db.reader() as s:
        beta = pdf_text(inv.ensure_pdf_in(s, s.get_one(Invoice, november), settings))
    reference = payment_reference(invoices["ALFA"][0])
    assert f"Betalingskenmerk: {reference[:4]} {reference[4:8]} {reference[8:12]} {reference[12:]}." in alfa
    assert "automatisch afgeschreven van NL02ABNA0123456789 (machtiging BETA-M1)" in beta


def test_cli_collect_import_statement_and_reminders(tmp_path: Path) -> None:
    import json

    from core.db import ensure_schema
    from tests.test_invoices import cli

    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    config.write_text(f'[issuer]\niban = "{OUR_IBAN}"\n[payments]\ncreditor_id = "NL79ZZZ999999990000"\n')
    db = Database(f"sqlite:///{data / 'expensis.sqlite3'}")
    ensure_schema(db)
    settings = sepa_settings(tmp_path)
    _, beta = issue(db, settings, "BETA", "200.00")
    direct_debit(db, "BETA", BETA_IBAN, "BETA-M1")
    db.dispose()

    code, out, _ = cli(data, "--config", str(config), "payments", "collect", "--due-before", "2026-11-29",
                       "--dry-run")
    assert code == 0 and f"{beta}" in out and "FRST" in out and "dry run: 1 invoice(s)" in out
    code, out, _ = cli(data, "--config", str(config), "payments", "collect", "--due-before", "2026-11-29",
                       "--json")
    assert code == 0
    batch = json.loads(out)
    assert batch["total"] == "242.00" and Path(batch["path"]).is_file()
    e2e = batch["items"][0]["end_to_end_id"]
    code, out, _ = cli(data, "--config", str(config), "payments", "collect", "--due-before", "2026-11-29")
    assert (code, out.strip()) == (0, "nothing to collect")

    path = tmp_path / "ing.xml"
    path.write_text(statement(ntry("E-1", "242.00", True, tx(e2e=e2e, name="Beta B.V.", iban=BETA_IBAN))))
    code, out, _ = cli(data, "--config", str(config), "payments", "import", str(path))
    assert code == 0 and out.startswith("1 matched, 0 returned debit(s), 0 unmatched") and beta in out
    code, out, _ = cli(data, "--config", str(config), "payments", "reminders", "--json")
    assert (code, json.loads(out)) == (0, [])
