"""Bank identifiers the Dutch way: IBAN and BIC (schwifty), VAT numbers (python-stdnum),
and the betalingskenmerk, the 16-digit payment reference with a MOD-11 check digit.

The betalingskenmerk of an invoice is derived from its id (15 digits, zero padded)
behind one check digit, so it needs no column and can be read back from a bank
statement: `invoice_id_from_reference` checks the digit before trusting it.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Weights from the rightmost digit leftwards (powers of 2 modulo 11), repeated past ten digits.
_WEIGHTS = (2, 4, 8, 5, 10, 9, 7, 3, 6, 1)
_DIGITS16 = re.compile(r"(?<!\d)\d{16}(?!\d)")


class BankDataError(ValueError):
    """An IBAN, BIC, VAT number or payment reference that cannot be used; the text says why."""


def check_digit(body: str) -> int:
    """The weighted modulus-11 check digit of a betalingskenmerk body (Currence rules)."""
    if not body.isdigit():
        raise BankDataError(f"{body!r}: a payment reference holds digits only")
    total = sum(int(d) * _WEIGHTS[i % 10] for i, d in enumerate(reversed(body)))
    digit = 11 - total % 11
    return {10: 1, 11: 0}.get(digit, digit)


def payment_reference(invoice_id: int) -> str:
    """The 16-digit betalingskenmerk printed on the invoice: check digit + 15-digit id."""
    if not 0 < invoice_id < 10**15:
        raise BankDataError(f"invoice id {invoice_id} does not fit a 16-digit payment reference")
    body = f"{invoice_id:015d}"
    return f"{check_digit(body)}{body}"


def is_valid_reference(text: str) -> bool:
    return len(text) == 16 and text.isdigit() and check_digit(text[1:]) == int(text[0])


def invoice_id_from_reference(text: str) -> int | None:
    """The invoice id behind the first valid betalingskenmerk in `text` (spaces allowed)."""
    squashed = re.sub(r"(?<=\d)[ .](?=\d)", "", text)
    for match in _DIGITS16.finditer(squashed):
        candidate = match.group()
        if is_valid_reference(candidate):
            return int(candidate[1:])
    return None


def format_reference(reference: str) -> str:
    """As printed on a transfer form: 5000 0567 8901 2345."""
    return " ".join(reference[i:i + 4] for i in range(0, len(reference), 4))


@lru_cache(maxsize=1024)
def checked_iban(raw: str) -> str:
    """The IBAN in its compact form; BankDataError names what is wrong (country, checksum, bank)."""
    from schwifty import IBAN
    from schwifty.exceptions import SchwiftyException

    try:
        return str(IBAN(raw).compact)
    except SchwiftyException as exc:
        raise BankDataError(f"{raw!r} is not a valid IBAN ({exc})") from None


def bic_for(iban: str) -> str | None:
    """The BIC of the IBAN's bank where the bank registry knows it."""
    from schwifty import IBAN

    bic = IBAN(iban).bic
    return str(bic) if bic is not None else None


def checked_bic(raw: str) -> str:
    from schwifty import BIC
    from schwifty.exceptions import SchwiftyException

    try:
        return str(BIC(raw).compact)
    except SchwiftyException as exc:
        raise BankDataError(f"{raw!r} is not a valid BIC ({exc})") from None


def checked_vat_number(raw: str) -> str:
    """An EU VAT number, compact, checked by format and check digits (python-stdnum)."""
    from stdnum.eu import vat
    from stdnum.exceptions import ValidationError

    try:
        return str(vat.validate(raw))
    except ValidationError as exc:
        raise BankDataError(f"{raw!r} is not a valid VAT number ({exc})") from None


def checked_creditor_id(raw: str) -> str:
    """A SEPA creditor identifier (e.g. NL79ZZZ999999990000), checked by python-stdnum (AT-02)."""
    from stdnum.eu import at_02
    from stdnum.exceptions import ValidationError

    try:
        return str(at_02.validate(raw))
    except ValidationError as exc:
        raise BankDataError(f"{raw!r} is not a SEPA creditor identifier ({exc})") from None
