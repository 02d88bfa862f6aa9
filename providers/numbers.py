"""Phone numbers as providers write them, normalised to E.164 ("+31612345678")."""

from __future__ import annotations

from functools import lru_cache

_SEPARATORS = str.maketrans("", "", " -./()\t")
_NL_NATIONAL_DIGITS = 9  # after the trunk 0: 6 1234 5678


@lru_cache(maxsize=8192)
def normalise_number(raw: str) -> str:
    """E.164 form of a Dutch or international number; ValueError for garbage.

    "0612345678", "0031612345678", "31612345678" and "+31 (0)6 1234 5678"
    all become "+31612345678".
    """
    text = raw if raw[1:].isdigit() else raw.strip().replace("(0)", "").translate(_SEPARATORS)
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    elif text.startswith("0"):
        digits = "31" + text[1:]
    elif text.startswith("31") and len(text) == 2 + _NL_NATIONAL_DIGITS:
        digits = text
    else:
        raise ValueError(f"not a phone number: {raw!r}")
    if not digits.isascii() or not digits.isdigit() or digits.startswith("0"):
        raise ValueError(f"not a phone number: {raw!r}")
    if digits.startswith("31"):
        if len(digits) != 2 + _NL_NATIONAL_DIGITS:
            raise ValueError(f"not a Dutch number: {raw!r}")
    elif not 8 <= len(digits) <= 15:
        raise ValueError(f"not a phone number: {raw!r}")
    return "+" + digits


def normalise_destination(raw: str) -> str:
    """A dialled number in E.164 where it is one; short codes and APNs unchanged."""
    text = raw.strip()
    if not text[-1:].isdigit():  # "internet", an APN: no number ends like that
        return text
    try:
        return normalise_number(text)
    except ValueError:
        return text
