"""Mail against a real SMTP server (aiosmtpd on 127.0.0.1): the send rules, once-only, digest."""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from email.message import Message as EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select

from core.billing import invoices as inv
from core.billing import mail
from core.bus import Bus, TransientError, default_registry, run_until_idle
from core.bus.deps import HandlerDeps
from core.config import Settings, SmtpSettings
from core.db import Database
from core.models import Customer, MailLog, Message, SyncProfile, SyncTask
from core.workflows.exports import create_export
from core.workflows.invoicing import invoice_run
from tests.test_invoices import ISSUE, OCT, billing_settings, simple_customer

INVOICE_DAY = ISSUE  # the 15th


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    port: int
    messages: list[EmailMessage]
    envelopes: list[tuple[str, list[str]]]
    logins: list[str]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


def start_server(**kwargs: Any) -> tuple[Controller, Inbox]:
    inbox = Inbox(free_port(), [], [], [])
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, **kwargs)
    controller.start()
    return controller, inbox


@pytest.fixture
def smtp_server() -> Iterator[Inbox]:
    controller, inbox = start_server()
    yield inbox
    controller.stop()


def with_smtp(tmp_path: Path, port: int, **smtp: Any) -> Settings:
    settings = billing_settings(tmp_path)
    return replace(settings, smtp=SmtpSettings(host="127.0.0.1", port=port, sender="facturen@expensis.test",
                                               error_recipients="ops@expensis.test, oncall@expensis.test",
                                               **smtp))


def issue(db: Database, settings: Settings, code: str, **kwargs: object) -> tuple[int, str]:
    customer = simple_customer(db, code, email=f"ap@{code.lower()}.test", **kwargs)
    invoice_id = inv.draft_invoice(db, customer, OCT, settings=settings)
    return invoice_id, inv.finalize_invoice(db, invoice_id, issue_date=ISSUE, settings=settings)


def attachments(message: EmailMessage) -> dict[str, bytes]:
    return {str(part.get_filename()): bytes(part.get_payload(decode=True))  # type: ignore[arg-type]
            for part in message.walk() if part.get_filename()}


# -- invoice mail ------------------------------------------------------------------------------

def test_the_invoice_arrives_with_its_pdf_and_only_once(db: Database, tmp_path: Path,
                                                        smtp_server: Inbox) -> None:
    settings = with_smtp(tmp_path, smtp_server.port)
    invoice_id, number = issue(db, settings, "ALFA")
    outcome = mail.send_invoice_mail(db, settings, invoice_id, today=INVOICE_DAY)
    assert outcome.status == "sent"
    [message] = smtp_server.messages
    assert smtp_server.envelopes == [("facturen@expensis.test", ["ap@alfa.test"])]
    assert message["Subject"] == f"Factuur {number} van Expensis B.V."
    pdf = settings.invoices_dir / "ALFA" / f"{number}.pdf"
    assert attachments(message) == {f"{number}.pdf": pdf.read_bytes()}
    body = next(p for p in message.walk() if p.get_content_type() == "text/plain").get_payload(decode=True)
    assert b"121,00" in bytes(body)  # type: ignore[arg-type]

    again = mail.send_invoice_mail(db, settings, invoice_id, today=INVOICE_DAY)
    assert again.status == "skipped" and "already sent" in again.reason
    assert len(smtp_server.messages) == 1
    with db.reader() as s:
        row = s.scalars(select(MailLog)).one()
        assert (row.status, row.kind, row.invoice_id, row.cycle_start_date) == ("sent", "invoice", invoice_id, OCT)


@pytest.mark.parametrize("rule", ["inactive", "auto_send_off", "wrong_day", "already_sent", "test_mode"])
def test_each_rule_prevents_the_mail(db: Database, tmp_path: Path, smtp_server: Inbox, rule: str) -> None:
    settings = with_smtp(tmp_path, smtp_server.port)
    invoice_id, _number = issue(db, settings, "BETA", test_mode=rule == "test_mode")
    today = INVOICE_DAY + timedelta(days=1) if rule == "wrong_day" else INVOICE_DAY
    with db.transaction() as s:
        customer = s.scalars(select(Customer).where(Customer.code == "BETA")).one()
        customer.active = rule != "inactive"
        customer.auto_send = rule != "auto_send_off"
        if rule == "already_sent":
            s.add(MailLog(customer_id=customer.id, cycle_start_date=OCT, kind="invoice", invoice_id=invoice_id,
                          recipient="ap@beta.test", status="sent"))
    outcome = mail.send_invoice_mail(db, settings, invoice_id, today=today)
    expected = {"inactive": "not active", "auto_send_off": "auto-send is off", "wrong_day": "invoice day",
                "already_sent": "already sent", "test_mode": "test mode"}[rule]
    assert outcome.status == "skipped" and expected in outcome.reason
    assert smtp_server.messages == []


def test_an_operator_may_send_by_hand_but_never_a_test_invoice(db: Database, tmp_path: Path,
                                                              smtp_server: Inbox) -> None:
    settings = with_smtp(tmp_path, smtp_server.port)
    live_id, _ = issue(db, settings, "HAND", auto_send=False)
    trial_id, _ = issue(db, settings, "PROEF", test_mode=True)
    other_day = date(2026, 11, 18)
    assert mail.send_invoice_mail(db, settings, live_id, today=other_day, manual=True).status == "sent"
    refused = mail.send_invoice_mail(db, settings, trial_id, today=INVOICE_DAY, manual=True)
    assert refused.status == "skipped" and "test mode" in refused.reason
    twice = mail.send_invoice_mail(db, settings, live_id, today=other_day, manual=True)
    assert twice.status == "skipped" and "--resend" in twice.reason
    assert mail.send_invoice_mail(db, settings, live_id, today=other_day, manual=True,
                                  resend=True).status == "sent"
    assert len(smtp_server.messages) == 2


def test_concurrent_senders_send_one_mail(db: Database, tmp_path: Path, smtp_server: Inbox) -> None:
    settings = with_smtp(tmp_path, smtp_server.port)
    invoice_id, _ = issue(db, settings, "DRUK")
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def send() -> None:
        barrier.wait()
        outcomes.append(mail.send_invoice_mail(db, settings, invoice_id, today=INVOICE_DAY).status)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["sent", "skipped", "skipped", "skipped"]
    assert len(smtp_server.messages) == 1


def test_a_failed_send_is_retried_later_and_then_sent_once(db: Database, tmp_path: Path) -> None:
    port = free_port()  # nothing listens here yet
    settings = with_smtp(tmp_path, port)
    invoice_id, _ = issue(db, settings, "LATER")
    with pytest.raises(TransientError):
        mail.send_invoice_mail(db, settings, invoice_id, today=INVOICE_DAY)
    with db.reader() as s:
        assert s.scalars(select(MailLog.status)).one() == "failed"
    controller = Controller(Inbox(port, [], [], []), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert mail.send_invoice_mail(db, settings, invoice_id, today=INVOICE_DAY).status == "sent"
        assert mail.send_invoice_mail(db, settings, invoice_id, today=INVOICE_DAY).status == "skipped"
        assert len(controller.handler.messages) == 1
    finally:
        controller.stop()


def test_the_invoice_run_mails_on_the_invoice_day_through_the_bus(db: Database, tmp_path: Path,
                                                                  smtp_server: Inbox) -> None:
    settings = with_smtp(tmp_path, smtp_server.port)
    bus = Bus(db, default_registry, deps=HandlerDeps(settings))
    simple_customer(db, "AUTO", email="ap@auto.test")
    simple_customer(db, "HANDMATIG", email="ap@handmatig.test", auto_send=False)
    simple_customer(db, "PROEF", email="ap@proef.test", test_mode=True)
    invoice_run(bus, "2026-10", operator="system", issue_date=INVOICE_DAY, send=True)
    run_until_idle(bus)
    assert [to for _sender, to in smtp_server.envelopes] == [["ap@auto.test"]]
    run = invoice_run(bus, "2026-10", operator="system", issue_date=INVOICE_DAY, send=True)
    run_until_idle(bus)
    assert run.dispatched == [] and len(smtp_server.messages) == 1


def test_starttls_and_login(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins: list[str] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        logins.append(auth_data.login.decode())
        return AuthResult(success=auth_data.password == b"s3cret")

    controller, inbox = start_server(tls_context=server_tls, require_starttls=True, authenticator=authenticate)
    trusting = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(mail, "tls_context", lambda: trusting)
    try:
        settings = with_smtp(tmp_path, inbox.port, starttls=True, username="billing", password="s3cret")
        invoice_id, _ = issue(db, settings, "TLS")
        assert mail.send_invoice_mail(db, settings, invoice_id, today=INVOICE_DAY).status == "sent"
        assert logins == ["billing"] and len(inbox.messages) == 1
    finally:
        controller.stop()


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


# -- other mail --------------------------------------------------------------------------------

def fail_sync(db: Database, code: str, at: datetime, reason: str) -> None:
    customer = simple_customer(db, code)
    with db.transaction() as s:
        profile = SyncProfile(name=f"{code.lower()}-kpn", customer_id=customer, provider="kpn_sp16",
                              base_url="http://127.0.0.1:1", customer_ref="C1")
        s.add(profile)
        s.flush()
        s.add(SyncTask(sync_profile_id=profile.id, customer_id=customer, cycle_start_date=OCT, status="failed",
                       reason=reason, error_message="provider said no", created_at=at, updated_at=at))


def test_failure_digest_lists_every_failure_since_the_last_digest_in_one_mail(
        db: Database, tmp_path: Path, smtp_server: Inbox) -> None:
    settings = with_smtp(tmp_path, smtp_server.port)
    t0 = datetime(2026, 11, 16, 7, 0, tzinfo=UTC)
    fail_sync(db, "EEN", t0 - timedelta(hours=3), "invalid_credentials")
    fail_sync(db, "TWEE", t0 - timedelta(hours=2), "timeout")
    with db.transaction() as s:
        s.add(Message(command_id="c-1", command_type="CalculateTotals", payload="{}", workflow_id="w",
                      status="failed", available_at=t0, error="ValueError: bad", finished_at=t0 - timedelta(hours=1)))
    assert mail.send_failure_digest(db, settings, t0).startswith("digest of 3 failure(s)")
    [digest] = smtp_server.messages
    assert digest["Subject"] == "Expensis: 3 failure(s)"
    assert smtp_server.envelopes[0][1] == ["ops@expensis.test", "oncall@expensis.test"]
    body = bytes(digest.get_payload(decode=True)).decode()  # type: ignore[arg-type]
    assert "sync een-kpn" in body and "invalid_credentials" in body and "sync twee-kpn" in body
    assert "CalculateTotals" in body

    assert mail.send_failure_digest(db, settings, t0).startswith("no failures since")  # a re-run
    assert mail.send_failure_digest(db, settings, t0 + timedelta(hours=1)).startswith("no failures since")
    fail_sync(db, "DRIE", t0 + timedelta(hours=2), "unknown_error")
    assert mail.send_failure_digest(db, settings, t0 + timedelta(hours=3)).startswith("digest of 1 failure")
    assert len(smtp_server.messages) == 2
    second = bytes(smtp_server.messages[1].get_payload(decode=True)).decode()  # type: ignore[arg-type]
    assert "drie-kpn" in second and "een-kpn" not in second


def test_export_ready_notice_names_the_file(db: Database, tmp_path: Path, smtp_server: Inbox) -> None:
    settings = with_smtp(tmp_path, smtp_server.port)
    customer = simple_customer(db, "EXPORT")
    bus = Bus(db, default_registry, deps=HandlerDeps(settings))
    job_id = create_export(bus, "usage", customer, OCT, operator="alice", notify_email="alice@expensis.test")
    run_until_idle(bus)
    [notice] = smtp_server.messages
    expected = f"EXPORT_2026-10_usage_{job_id}.xlsx"
    body = bytes(notice.get_payload(decode=True)).decode()  # type: ignore[arg-type]
    assert notice["Subject"] == f"Export ready: {expected}" and expected in body
    assert smtp_server.envelopes[0][1] == ["alice@expensis.test"]


def test_failure_digest_job_without_smtp_says_so(db: Database, tmp_path: Path) -> None:
    class FakeRuntime:
        def __init__(self) -> None:
            self.db, self.settings = db, billing_settings(tmp_path)

    summary = mail.failure_digest_job(FakeRuntime(), datetime(2026, 11, 16, 7, 0, tzinfo=UTC))  # type: ignore[arg-type]
    assert summary.startswith("skipped: no SMTP host")
