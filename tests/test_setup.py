"""Setup as code: apply is idempotent, reports and audits changes, validates before writing,
and export writes back exactly what apply reads (SQLite and MariaDB)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select

from core.db import Database
from core.models import (
    AuditLog,
    Customer,
    Operator,
    Partner,
    RatePlan,
    Subscription,
    SyncProfile,
    Tariff,
)
from core.security.secrets import SecretBox, SecretError
from core.setup import SetupError, apply_setup, export_setup, parse_setup

SECRET = "s3cr3t-client-secret-value"

EXAMPLE = f"""
[[partner]]
name = "Telecom Partners B.V."

[[rate_plan]]
name = "Business 100"
monthly_fee = 12.50
voice_bundle_minutes = 100
sms_bundle = 50
data_bundle_mb = 2048
price_per_minute = 0.10
price_per_sms = 0.05
price_per_mb = 0.02
voice_increment_s = 60
setup_fee = 0.00
  [[rate_plan.tariff]]
  prefix = "+44"
  call_type = "voice"
  price = 0.35
  setup_fee = 0.05
  [[rate_plan.tariff]]
  prefix = "+1"
  call_type = "sms"
  price = 0.25

[[rate_plan]]
name = "Basic"
monthly_fee = 5

[[customer]]
code = "BETA"
name = "Beta Holding"
language = "en"
  [[customer.subscription]]
  number = "+31 20 123 4567"

[[customer]]
code = "ACME"
name = "Acme B.V."
partner = "Telecom Partners B.V."
language = "nl"
billing_day = 1
time_zone = "Europe/Amsterdam"
rateplan_customer = true
active = true
auto_send = false
test_mode = false
email = "finance@acme.nl"
vat_number = "NL004495445B01"
country = "NL"
address = "Straat 1\\n1234 AB Plaats"
  [[customer.subscription]]
  number = "06-12345678"
  rate_plan = "Business 100"
  cost_centre = "Sales"
  start_date = 2025-01-01
  end_date = 2026-12-31
  portation_date = 2025-01-15
  provider = "kpn_sp16"
  [[customer.subscription]]
  number = "0031 6 87654321"
  rate_plan = "Basic"
  [[customer.sync_profile]]
  name = "acme-kpn-sp16"
  provider = "kpn_sp16"
  base_url = "https://api.example/kpn_sp16"
  customer_ref = "ACME-001"
  interval_minutes = 1440
  active = true
  credentials = {{ client_id = "acme", client_secret = "{SECRET}" }}
"""

SETUP_MODELS = (Partner, RatePlan, Tariff, Customer, Subscription, SyncProfile)


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(SecretBox.generate_key())


def apply(db: Database, text: str, box: SecretBox, **kwargs: Any) -> Any:
    return apply_setup(db, text, secrets=box, operator="alice", **kwargs)


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every setup table, ids and timestamps included."""
    with db.reader() as s:
        return {model.__tablename__: [tuple(row) for row in s.execute(
            select(model.__table__).order_by(model.__table__.c.id))] for model in SETUP_MODELS}


def register_admin(db: Database, name: str = "alice") -> None:
    """Register the operator up front, so the first apply does not also bootstrap an admin."""
    with db.transaction() as s:
        s.add(Operator(username=name, role="admin"))


def audit_rows(db: Database) -> list[AuditLog]:
    with db.reader() as s:
        return list(s.scalars(select(AuditLog).order_by(AuditLog.id)))


def wipe(db: Database) -> None:
    with db.transaction() as s:
        for model in (*reversed(SETUP_MODELS), AuditLog):
            s.execute(delete(model))


# -- applying ------------------------------------------------------------------

def test_apply_creates_everything(db: Database, box: SecretBox) -> None:
    report = apply(db, EXAMPLE, box)
    assert {k: c.created for k, c in report.counts.items()} == {
        "partner": 1, "rate_plan": 2, "tariff": 2, "customer": 2, "subscription": 3, "sync_profile": 1}
    assert "customer ACME: created" in report.changes and report.changed
    with db.reader() as s:
        acme = s.scalars(select(Customer).where(Customer.code == "ACME")).one()
        assert acme.partner is not None and acme.partner.name == "Telecom Partners B.V."
        assert (acme.billing_day, acme.address) == (1, "Straat 1\n1234 AB Plaats")
        beta = s.scalars(select(Customer).where(Customer.code == "BETA")).one()
        assert (beta.language, beta.billing_day, beta.time_zone, beta.country, beta.email) == (
            "en", 1, "Europe/Amsterdam", "NL", None)
        numbers = {sub.number: sub for sub in s.scalars(select(Subscription))}
        assert set(numbers) == {"+31201234567", "+31612345678", "+31687654321"}  # stored E.164
        assert numbers["+31612345678"].customer_id == acme.id
        plan = s.scalars(select(RatePlan).where(RatePlan.name == "Business 100")).one()
        assert (plan.monthly_fee, plan.price_per_minute) == (Decimal("12.50"), Decimal("0.10"))
        assert {(t.prefix, t.call_type, t.price, t.setup_fee) for t in plan.tariffs} == {
            ("+44", "voice", Decimal("0.35"), Decimal("0.05")), ("+1", "sms", Decimal("0.25"), Decimal("0"))}


def test_apply_twice_changes_nothing(db: Database, box: SecretBox) -> None:
    register_admin(db)
    apply(db, EXAMPLE, box)
    before = snapshot(db)
    report = apply(db, EXAMPLE, box)
    assert not report.changed and report.changes == []
    assert {k: (c.created, c.updated, c.removed) for k, c in report.counts.items()} == dict.fromkeys(
        report.counts, (0, 0, 0))
    assert {k: c.unchanged for k, c in report.counts.items()} == {
        "partner": 1, "rate_plan": 2, "tariff": 2, "customer": 2, "subscription": 3, "sync_profile": 1}
    assert snapshot(db) == before  # same ids, same values, credentials not re-encrypted
    assert [a.action for a in audit_rows(db)] == ["setup.apply", "setup.apply"]


def test_other_notations_of_the_same_number_are_no_change(db: Database, box: SecretBox) -> None:
    apply(db, EXAMPLE, box)
    before = snapshot(db)
    report = apply(db, EXAMPLE.replace("06-12345678", "+31 (0)6 1234 5678"), box)
    assert not report.changed and snapshot(db) == before


def test_update_is_reported_and_audited(db: Database, box: SecretBox) -> None:
    apply(db, EXAMPLE, box)
    changed = EXAMPLE.replace("billing_day = 1", "billing_day = 15").replace(
        "monthly_fee = 12.50", "monthly_fee = 13")
    report = apply(db, changed, box)
    assert report.changes == ["rate plan Business 100: monthly_fee 12.5 → 13.0",
                              "customer ACME: billing_day 1 → 15"]
    assert report.counts["customer"].updated == 1 and report.counts["customer"].unchanged == 1
    last = audit_rows(db)[-1]
    assert (last.operator, last.action, last.result) == ("alice", "setup.apply", "ok")
    assert last.detail is not None
    assert "customer 1 updated, 1 unchanged" in last.detail
    assert "customer ACME: billing_day 1 → 15" in last.detail
    with db.reader() as s:
        assert s.scalars(select(Customer.billing_day).where(Customer.code == "ACME")).one() == 15


def test_references_and_moves_are_reported_by_name(db: Database, box: SecretBox) -> None:
    apply(db, EXAMPLE, box)
    moved = EXAMPLE.replace('rate_plan = "Basic"', 'rate_plan = "Business 100"').replace(
        'partner = "Telecom Partners B.V."\n', "").replace('number = "+31 20 123 4567"', 'number = "+31 20 765 4321"')
    moved += '  [[customer.subscription]]\n  number = "+31201234567"\n'  # BETA's number moves to ACME
    report = apply(db, moved, box)
    assert "customer ACME: partner 'Telecom Partners B.V.' → -" in report.changes
    assert "subscription +31687654321: rate_plan 'Basic' → 'Business 100'" in report.changes
    assert "subscription +31201234567: customer 'BETA' → 'ACME'" in report.changes
    assert "subscription +31207654321: created" in report.changes


def test_dry_run_reports_but_writes_nothing(db: Database, box: SecretBox) -> None:
    register_admin(db)
    report = apply(db, EXAMPLE, box, dry_run=True)
    assert report.dry_run and report.counts["customer"].created == 2
    assert all(rows == [] for rows in snapshot(db).values()) and audit_rows(db) == []
    apply(db, EXAMPLE, box)
    before = snapshot(db)
    report = apply(db, EXAMPLE.replace("billing_day = 1", "billing_day = 15"), box, dry_run=True)
    assert report.changes == ["customer ACME: billing_day 1 → 15"]
    assert snapshot(db) == before and len(audit_rows(db)) == 1


def test_tariffs_not_in_the_file_are_removed_rows_not_in_the_file_stay(db: Database, box: SecretBox) -> None:
    apply(db, EXAMPLE, box)
    partial = """
[[rate_plan]]
name = "Business 100"
monthly_fee = 12.50
voice_bundle_minutes = 100
sms_bundle = 50
data_bundle_mb = 2048
price_per_minute = 0.10
price_per_sms = 0.05
price_per_mb = 0.02
  [[rate_plan.tariff]]
  prefix = "+44"
  call_type = "voice"
  price = 0.40
  setup_fee = 0.05

[[customer]]
code = "BETA"
name = "Beta Holding"
language = "en"
"""
    report = apply(db, partial, box)
    assert report.changes == ["rate plan Business 100: tariff +44 voice: price 0.35 → 0.4",
                              "rate plan Business 100: tariff +1 sms: removed"]
    assert report.counts["tariff"].removed == 1 and report.counts["customer"].unchanged == 1
    after = snapshot(db)
    assert len(after["subscription"]) == 3 and len(after["sync_profile"]) == 1
    assert len(after["customer"]) == 2 and len(after["partner"]) == 1 and len(after["tariff"]) == 1


def test_natural_keys_match_without_regard_to_case(db: Database, box: SecretBox) -> None:
    apply(db, EXAMPLE, box)
    report = apply(db, EXAMPLE.replace('code = "ACME"', 'code = "acme"'), box)
    assert report.changes == ["customer acme: code 'ACME' → 'acme'"]
    assert len(snapshot(db)["customer"]) == 2


# -- credentials ---------------------------------------------------------------

def stored_credentials(db: Database) -> bytes:
    with db.reader() as s:
        token = s.scalars(select(SyncProfile.credentials_encrypted)).one()
    assert token is not None
    return token


def test_credentials_are_encrypted_at_rest(db: Database, box: SecretBox) -> None:
    apply(db, EXAMPLE, box)
    token = stored_credentials(db)
    assert SECRET.encode() not in token
    assert box.decrypt(token) == {"client_id": "acme", "client_secret": SECRET}
    with pytest.raises(SecretError, match="cannot be decrypted with this key"):
        SecretBox(SecretBox.generate_key()).decrypt(token)


def test_credentials_kept_when_missing_replaced_when_different(db: Database, box: SecretBox) -> None:
    apply(db, EXAMPLE, box)
    token = stored_credentials(db)
    without = EXAMPLE.replace(f'  credentials = {{ client_id = "acme", client_secret = "{SECRET}" }}\n', "")
    assert "credentials" not in without
    assert not apply(db, without, box).changed and stored_credentials(db) == token

    report = apply(db, EXAMPLE.replace(SECRET, "rotated-secret"), box)
    assert report.changes == ["sync profile acme-kpn-sp16: credentials replaced"]
    assert box.decrypt(stored_credentials(db))["client_secret"] == "rotated-secret"
    audit_text = "".join(a.detail or "" for a in audit_rows(db))
    assert "rotated-secret" not in audit_text and SECRET not in audit_text


def test_credentials_under_another_key_are_replaced(db: Database, box: SecretBox) -> None:
    apply(db, EXAMPLE, box)
    new_box = SecretBox(SecretBox.generate_key())
    report = apply(db, EXAMPLE, new_box)
    assert report.changes == ["sync profile acme-kpn-sp16: credentials replaced"]
    assert new_box.decrypt(stored_credentials(db))["client_secret"] == SECRET


# -- validation ------------------------------------------------------------------

ACME = "customer[1] (ACME)"
PLAN = "rate_plan[0] (Business 100)"

INVALID = [
    ('number = "06-12345678"', 'number = "abc"', f"{ACME}.subscription[0].number: 'abc' is not a phone number"),
    ("email =", "emial =", f"{ACME}.emial: unknown key (known keys: code, name,"),
    ("billing_day = 1", 'billing_day = "1"', f"{ACME}.billing_day: expected an integer, got a string ('1')"),
    ("billing_day = 1", "billing_day = true", f"{ACME}.billing_day: expected an integer, got a boolean (true)"),
    ("billing_day = 1", "billing_day = 1.0",
     f"{ACME}.billing_day: expected an integer, got a decimal number (1.0)"),
    ("voice_bundle_minutes = 100", "voice_bundle_minutes = 100.5",
     f"{PLAN}.voice_bundle_minutes: expected an integer, got a decimal number (100.5)"),
    ("billing_day = 1", "billing_day = 29", f"{ACME}.billing_day: 29 is out of range (must be between 1 and 28)"),
    ("billing_day = 1", "billing_day = 0", f"{ACME}.billing_day: 0 is out of range (must be between 1 and 28)"),
    ('time_zone = "Europe/Amsterdam"', 'time_zone = "Mars/Olympus"',
     f"{ACME}.time_zone: 'Mars/Olympus' is not a known time zone"),
    ('language = "nl"', 'language = "de"', f"{ACME}.language: 'de' is not one of nl, en"),
    ('provider = "kpn_sp16"\n  [[customer.subscription', 'provider = "kpn"\n  [[customer.subscription',
     f"{ACME}.subscription[0].provider: 'kpn' is not one of kpn_sp16,"),
    ('provider = "kpn_sp16"\n  base_url', 'provider = "kpn_sp17"\n  base_url',
     f"{ACME}.sync_profile[0].provider: 'kpn_sp17' is not one of kpn_sp16,"),
    ("price_per_sms = 0.05", "price_per_sms = -0.05",
     f"{PLAN}.price_per_sms: -0.05 is negative (amounts must be 0 or more)"),
    ("price = 0.35", "price = -1", f"{PLAN}.tariff[0].price: -1 is negative"),
    ("monthly_fee = 12.50", "monthly_fee = 12.34567", f"{PLAN}.monthly_fee: 12.34567 has more than 4 decimals"),
    ("monthly_fee = 12.50", 'monthly_fee = "12.50"', f"{PLAN}.monthly_fee: expected an amount (12.50), got a string"),
    ("monthly_fee = 12.50", "monthly_fee = nan", f"{PLAN}.monthly_fee: NaN is not an amount"),
    ('prefix = "+44"', 'prefix = "44"', f"{PLAN}.tariff[0].prefix: '44' is not a prefix"),
    ('call_type = "voice"', 'call_type = "fax"', f"{PLAN}.tariff[0].call_type: 'fax' is not one of voice, sms, data"),
    ('prefix = "+1"\n  call_type = "sms"', 'prefix = "+44"\n  call_type = "voice"',
     f"{PLAN}.tariff[1]: duplicate tariff +44 voice (also at {PLAN}.tariff[0])"),
    ('rate_plan = "Basic"', 'rate_plan = "Business 200"',
     f"{ACME}.subscription[1].rate_plan: unknown rate plan 'Business 200' (not in the file or the database)"),
    ('partner = "Telecom Partners B.V."', 'partner = "Nobody"',
     f"{ACME}.partner: unknown partner 'Nobody' (not in the file or the database)"),
    ('name = "Acme B.V."', "", f"{ACME}.name: missing (required)"),
    ('name = "Acme B.V."', 'name = "  "', f"{ACME}.name: must not be empty"),
    ('code = "BETA"', 'code = "acme"', "customer[1] (ACME).code: duplicate customer code 'ACME' (also at customer[0] (acme))"),
    ('number = "0031 6 87654321"', 'number = "+31 20 1234567"',
     f"{ACME}.subscription[1].number: duplicate subscription number '+31201234567' "
     "(also at customer[0] (BETA).subscription[0])"),
    ("start_date = 2025-01-01", "start_date = 2025-01-01T10:00:00",
     f"{ACME}.subscription[0].start_date: expected a date (2025-01-31), got a date-time"),
    ("end_date = 2026-12-31", "end_date = 2024-12-31",
     f"{ACME}.subscription[0].end_date: 2024-12-31 is before start_date 2025-01-01"),
    ('country = "NL"', 'country = "nl"', f"{ACME}.country: 'nl' is not a two-letter country code"),
    ('client_id = "acme"', "client_id = 42", f"{ACME}.sync_profile[0].credentials.client_id: expected a string"),
    ('email = "finance@acme.nl"', f'email = "{"x" * 201}"', f"{ACME}.email: longer than 200 characters"),
    ("interval_minutes = 1440", "interval_minutes = 0", f"{ACME}.sync_profile[0].interval_minutes: 0 is out of range"),
    ("[[partner]]", "[[partners]]", "partners: unknown key (known keys: partner, roaming_zone, rate_plan, customer)"),
    ('[[partner]]\nname = "Telecom Partners B.V."', "partner = 3",
     "partner: expected an array of tables ([[partner]]), got an integer (3)"),
    ('  [[customer.subscription]]\n  number = "+31 20 123 4567"', '  subscription = "+31 20 123 4567"',
     "customer[0] (BETA).subscription: expected an array of tables ([[customer.subscription]]), "
     "got a string"),
    ('code = "ACME"', "code = ACME", "not valid TOML: "),
]


@pytest.mark.parametrize(("old", "new", "message"), INVALID, ids=[m[2][:60] for m in INVALID])
def test_invalid_file_names_the_place_and_writes_nothing(
        sqlite_db: Database, box: SecretBox, old: str, new: str, message: str) -> None:
    assert old in EXAMPLE
    apply(sqlite_db, EXAMPLE, box)
    before, audits = snapshot(sqlite_db), len(audit_rows(sqlite_db))
    with pytest.raises(SetupError) as caught:
        apply(sqlite_db, EXAMPLE.replace(old, new, 1), box)
    assert str(caught.value).startswith(message), str(caught.value)
    assert SECRET not in str(caught.value)
    assert snapshot(sqlite_db) == before and len(audit_rows(sqlite_db)) == audits


def test_the_brief_example_error_message() -> None:
    with pytest.raises(SetupError) as caught:
        parse_setup(EXAMPLE.replace('number = "06-12345678"', 'number = "abc"'))
    assert str(caught.value) == "customer[1] (ACME).subscription[0].number: 'abc' is not a phone number"


def test_a_late_error_writes_nothing_on_either_database(db: Database, box: SecretBox) -> None:
    broken = EXAMPLE + '\n[[customer]]\ncode = "ZULU"\nname = "Zulu"\npartner = "Nobody"\n'
    with pytest.raises(SetupError, match=r"customer\[2\] \(ZULU\)\.partner: unknown partner 'Nobody'"):
        apply(db, broken, box)
    assert all(rows == [] for rows in snapshot(db).values()) and audit_rows(db) == []


def test_references_may_name_rows_already_in_the_database(db: Database, box: SecretBox) -> None:
    apply(db, EXAMPLE, box)
    only_customer = """
[[customer]]
code = "GAMMA"
name = "Gamma"
partner = "telecom partners b.v."
  [[customer.subscription]]
  number = "0612121212"
  rate_plan = "Basic"
"""
    report = apply(db, only_customer, box)
    assert report.changes == ["customer GAMMA: created", "subscription +31612121212: created"]


# -- export ----------------------------------------------------------------------

def test_export_round_trip(db: Database, box: SecretBox) -> None:
    apply(db, EXAMPLE, box)
    exported = export_setup(db)
    assert SECRET not in exported and "credentials" in exported.split("\n\n")[0]  # the header says why
    assert "[[customer.subscription]]" in exported and 'number = "+31612345678"' in exported
    assert not apply(db, exported, box).changed  # apply(export) on the same database: no change

    wipe(db)
    assert apply(db, exported, box).counts["customer"].created == 2
    assert export_setup(db) == exported


def test_export_of_an_empty_database_is_only_the_header(db: Database) -> None:
    exported = export_setup(db)
    assert exported.startswith("# Expensis setup") and parse_setup(exported).customers == ()


@pytest.mark.parametrize("amount", ["12.3456", "0.0001", "99999999999999.9999", "100", "0.1", "7.10"])
def test_money_round_trips_exactly(db: Database, box: SecretBox, amount: str) -> None:
    text = f'[[rate_plan]]\nname = "Exact"\nmonthly_fee = {amount}\nprice_per_mb = 0.0001\n'
    apply(db, text, box)
    with db.reader() as s:
        assert s.scalars(select(RatePlan.monthly_fee)).one() == Decimal(amount)
    exported = export_setup(db)
    written = next(line for line in exported.splitlines() if line.startswith("monthly_fee"))
    assert Decimal(written.split(" = ")[1]) == Decimal(amount) and "." in written
    assert not apply(db, exported, box).changed
    wipe(db)
    apply(db, exported, box)
    assert export_setup(db) == exported


def test_export_writes_the_documented_example_readably(db: Database, box: SecretBox) -> None:
    apply(db, EXAMPLE, box)
    exported = export_setup(db)
    assert "monthly_fee = 12.5\n" in exported and "monthly_fee = 5.0\n" in exported
    assert 'address = """\nStraat 1\n1234 AB Plaats"""' in exported
    assert "start_date = 2025-01-01\n" in exported
    assert exported.index('code = "ACME"') < exported.index('code = "BETA"')  # sorted by code


def test_the_documented_example_applies_and_round_trips(db: Database, box: SecretBox) -> None:
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "formats" / "setup.md").read_text(encoding="utf-8")
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    report = apply(db, example, box)
    assert report.counts["subscription"].created == 2 and report.counts["tariff"].created == 1
    assert not apply(db, example, box).changed
    assert not apply(db, export_setup(db), box).changed
