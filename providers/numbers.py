"""The one phone-number function: what setup, CDR import and add-ons accept, in E.164.

Built on `phonenumbers` (libphonenumber's metadata) behind a cache: a month of CDRs
repeats the same few thousand numbers, so nearly every call is a dictionary hit.

It lives in `providers` because providers are the lowest layer and decode CDRs with
it; `core` reaches it through `providers.base`, like the rest of the provider contract.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from phonenumbers import PhoneNumber

__all__ = ["normalise_destination", "normalise_number"]

# Only digits and the separators people type; no letters (vanity or "ext"), no
# non-ASCII digits, which phonenumbers would otherwise quietly convert.
_SPELLING = re.compile(r"\+?[0-9 \t\-./()]+")
_SEPARATORS = str.maketrans("", "", " \t-./()")
_NL = 31
_NL_CODE = str(_NL)
_NL_DIGITS_WITHOUT_PLUS = 11  # "31" and the nine national digits of 06 1234 5678
# Ranges given out faster than libphonenumber's metadata follows: a Dutch mobile
# number (6 and eight digits) and an M2M number (97 and nine digits) are accepted by
# their shape, so a subscription is never quarantined for a newly allocated block.
_NL_BY_SHAPE = re.compile(r"6[0-9]{8}|97[0-9]{9}")


@lru_cache(maxsize=65536)
def normalise_number(raw: str) -> str:
    """E.164 form ("+31612345678") of a Dutch or international number; ValueError if not.

    Accepts Dutch national ("06 1234 5678", M2M "097 ..."), "+" or "00" international,
    "0031", "31" without a plus, and "+31 (0)20 ...". A Dutch number must be valid for
    its range; a foreign one must have a possible length for its country.
    """
    text = raw.strip()
    if not _SPELLING.fullmatch(text):
        raise ValueError(f"not a phone number: {raw!r}")
    if text.startswith(("+", "00")):
        text = text.replace("(0)", "", 1)
    compact = text.translate(_SEPARATORS)
    if compact.startswith("+"):
        digits = compact[1:]
    elif compact.startswith("00"):
        digits = compact[2:]
    elif compact.startswith("0"):
        digits = _NL_CODE + compact[1:]
    elif compact.startswith(_NL_CODE) and len(compact) == _NL_DIGITS_WITHOUT_PLUS:
        digits = compact
    else:  # short codes ("112", "1200") and numbers without any prefix
        raise ValueError(f"not a phone number with an international or national prefix: {raw!r}")
    if not digits.isdigit() or digits.startswith("0"):
        raise ValueError(f"not a phone number: {raw!r}")
    if digits.startswith(_NL_CODE) and _NL_BY_SHAPE.fullmatch(digits, len(_NL_CODE)):
        return "+" + digits  # most subscriptions: no need to consult the metadata
    import phonenumbers  # 75 ms of metadata: loaded on the first number off the fast path

    try:
        number = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        raise ValueError(f"not a phone number: {raw!r}") from None
    if not _acceptable(number):
        where = "Dutch number" if number.country_code == _NL else "phone number"
        raise ValueError(f"not a valid {where}: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _acceptable(number: PhoneNumber) -> bool:
    import phonenumbers

    if number.extension or number.italian_leading_zero:
        return False
    if number.country_code == _NL:
        national = str(number.national_number)
        return phonenumbers.is_valid_number(number) or bool(_NL_BY_SHAPE.fullmatch(national))
    return phonenumbers.is_possible_number(number)


def normalise_destination(raw: str) -> str:
    """A dialled number in E.164 where it is one; short codes and APNs unchanged."""
    text = raw.strip()
    if not text[-1:].isdigit():  # "internet", an APN: no number ends like that
        return text
    try:
        return normalise_number(text)
    except ValueError:
        return text
