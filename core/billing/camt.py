"""Reading an ISO 20022 CAMT.053 bank statement (the format ING, Rabobank and ABN AMRO deliver).

One `StatementEntry` per transaction: an entry (`Ntry`) booked as a batch holds several
transaction details (`TxDtls`), each its own entry here. Elements are found by local
name, so camt.053.001.02 up to .001.13 read alike. The parser never resolves entities
or fetches anything (a statement is input from outside, hostile until checked).

`entry_ref` is the bank's own reference for the booking (AcctSvcrRef, else NtryRef),
with the transaction's index when an entry holds more than one: a statement imported
twice, or two statements that overlap, apply each booking once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any


class StatementError(ValueError):
    """The file is not a CAMT.053 statement we can read; the text says where."""


@dataclass(frozen=True)
class StatementEntry:
    entry_ref: str
    account_iban: str
    booked_on: date
    amount: Decimal  # positive: credited to our account; negative: debited
    currency: str
    end_to_end_id: str | None
    structured_ref: str | None  # CdtrRefInf/Ref: a betalingskenmerk when the payer used one
    remittance: str  # unstructured remittance text
    counterparty: str
    counterparty_iban: str | None
    return_reason: str | None  # R-transaction reason code, e.g. AC04, MD06, AM04

    @property
    def is_return(self) -> bool:
        return self.amount < 0 and self.return_reason is not None


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(node: Any, *path: str) -> Any:
    for name in path:
        if node is None:
            return None
        node = next((c for c in node if _local(c.tag) == name), None)
    return node


def _children(node: Any, name: str) -> list[Any]:
    return [] if node is None else [c for c in node if _local(c.tag) == name]


def _text(node: Any, *path: str) -> str | None:
    found = _child(node, *path)
    if found is None or found.text is None:
        return None
    text = " ".join(found.text.split())
    return text or None


def _amount(node: Any, where: str) -> tuple[Decimal, str]:
    if node is None or not (node.text or "").strip():
        raise StatementError(f"{where}: no amount")
    try:
        value = Decimal(node.text.strip())
    except InvalidOperation:
        raise StatementError(f"{where}: amount {node.text.strip()!r} is not a number") from None
    if not value.is_finite() or value < 0 or value.as_tuple().exponent < -2 or value >= 10**12:  # type: ignore[operator]
        raise StatementError(f"{where}: amount {node.text.strip()!r} is out of range")
    return value, node.get("Ccy") or ""


def _date(node: Any, where: str) -> date:
    text = _text(node, "Dt") or (_text(node, "DtTm") or "")[:10]
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise StatementError(f"{where}: booking date {text!r} is not a date") from None


def parse_statement(path: Path) -> list[StatementEntry]:
    """Every transaction of every statement in the file; StatementError for a file we cannot read."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                             remove_comments=True)
    try:
        root = etree.parse(str(path), parser).getroot()
    except (etree.XMLSyntaxError, OSError) as exc:
        raise StatementError(f"{path.name}: not a readable XML file ({exc})") from None
    document = root if _local(root.tag) == "BkToCstmrStmt" else _child(root, "BkToCstmrStmt")
    if document is None:
        raise StatementError(f"{path.name}: not a CAMT.053 statement (no BkToCstmrStmt element)")
    return list(_entries(document))


def _entries(document: Any) -> Iterator[StatementEntry]:
    for s, statement in enumerate(_children(document, "Stmt")):
        iban = _text(statement, "Acct", "Id", "IBAN") or ""
        for n, entry in enumerate(_children(statement, "Ntry")):
            where = f"statement {s + 1}, entry {n + 1}"
            if (_text(entry, "Sts") or _text(entry, "Sts", "Cd") or "BOOK") not in ("BOOK",):
                continue  # pending or informational: not on the account yet
            credit = _text(entry, "CdtDbtInd") == "CRDT"
            entry_amount, currency = _amount(_child(entry, "Amt"), where)
            booked = _date(_child(entry, "BookgDt"), where)
            entry_ref = _text(entry, "AcctSvcrRef") or _text(entry, "NtryRef")
            details = [tx for group in _children(entry, "NtryDtls") for tx in _children(group, "TxDtls")]
            for t, tx in enumerate(details or [None]):
                yield _transaction(tx, where=f"{where}, transaction {t + 1}", iban=iban, booked=booked,
                                   credit=credit, entry_amount=entry_amount, currency=currency,
                                   entry_ref=entry_ref, index=t, batched=len(details) > 1)


def _transaction(tx: Any, *, where: str, iban: str, booked: date, credit: bool, entry_amount: Decimal,
                 currency: str, entry_ref: str | None, index: int, batched: bool) -> StatementEntry:
    amount = entry_amount
    if tx is not None and batched:
        tx_amount = _child(tx, "AmtDtls", "TxAmt", "Amt")
        if tx_amount is None:
            tx_amount = _child(tx, "Amt")
        amount, currency = _amount(tx_amount, where)
    party = "Dbtr" if credit else "Cdtr"
    counterparty = _text(tx, "RltdPties", party, "Nm") or _text(tx, "RltdPties", party, "Pty", "Nm") or ""
    counterparty_iban = (_text(tx, "RltdPties", f"{party}Acct", "Id", "IBAN")
                         or _text(tx, "RltdPties", "DbtrAcct", "Id", "IBAN"))
    end_to_end = _text(tx, "Refs", "EndToEndId")
    if end_to_end == "NOTPROVIDED":
        end_to_end = None
    structured = _text(tx, "RmtInf", "Strd", "CdtrRefInf", "Ref")
    unstructured = " ".join(u.text.strip() for u in _children(_child(tx, "RmtInf"), "Ustrd") if u.text)
    reason = _text(tx, "RtrInf", "Rsn", "Cd")
    reference = (_text(tx, "Refs", "AcctSvcrRef") if batched else None) or entry_ref
    if reference is None:  # no bank reference at all: the booking's own content identifies it
        content = "|".join([iban, booked.isoformat(), str(amount), str(end_to_end), str(structured),
                            unstructured, counterparty, str(counterparty_iban)])
        reference = "sha1:" + hashlib.sha1(content.encode()).hexdigest()
    elif batched and reference == entry_ref:
        reference = f"{reference}/{index + 1}"
    signed = amount if credit else -amount
    return StatementEntry(reference[:120], iban, booked, signed, currency, end_to_end, structured,
                          unstructured[:500], counterparty[:200], counterparty_iban, reason)
