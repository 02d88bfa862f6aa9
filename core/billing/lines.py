"""Invoice lines and amounts: pure Decimal arithmetic, no database.

Per-CDR and per-total amounts keep 4 decimals; an invoice line is rounded to
cents half-up once, VAT is computed on the subtotal of the rounded lines and
rounded half-up once. Nothing here ever touches a float.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from core.billing.charges import PriceKey, UsageCharge
from core.billing.i18n import country_of_prefix, format_day, format_decimal, t
from core.rating.roaming import EU_ZONE, UNKNOWN_ZONE

CENT = Decimal("0.01")
PLACES_4 = Decimal("0.0001")
ZERO = Decimal("0")

#: Call types in the order their usage lines appear on an invoice.
CALL_TYPES: tuple[str, ...] = ("voice", "sms", "data")

#: Member states of the EU by ISO 3166 code; Greece also by its VAT prefix "EL".
EU_COUNTRIES: frozenset[str] = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "GR", "HR",
        "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
    }
)  # fmt: skip


def round_cents(amount: Decimal) -> Decimal:
    """Round to cents, half-up (away from zero on a tie: 0.005 -> 0.01, -0.005 -> -0.01)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class InvoiceLine:
    """One printed line: `amount` is `quantity * unit_price` rounded half-up to cents.

    The rule holds for every line, so a customer can check each one with a calculator.
    """

    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class UsageTotal:
    """Rated usage of one subscription and call type in a cycle (rated_amount has 4 dp)."""

    subscription_number: str
    call_type: str
    count: int
    duration_s: int
    volume_kb: int
    rated_amount: Decimal


@dataclass(frozen=True)
class FeeTotal:
    """The monthly fee of one subscription on its rate plan (4 dp)."""

    subscription_number: str
    plan_name: str
    monthly_fee: Decimal


@dataclass(frozen=True)
class AddonCharge:
    subscription_number: str
    addon_name: str
    amount: Decimal


@dataclass(frozen=True)
class VatRule:
    """VAT percentage to charge, or reverse charge (then no VAT is charged)."""

    rate: Decimal = Decimal("21")
    reverse_charge: bool = False


@dataclass(frozen=True)
class InvoiceAmounts:
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    vat_rate: Decimal
    vat: Decimal
    total: Decimal
    reverse_charge: bool


def build_invoice_lines(
    fees: Iterable[FeeTotal],
    usage: Iterable[UsageTotal],
    addons: Iterable[AddonCharge],
    *,
    language: str,
    charges: Iterable[UsageCharge] = (),
) -> list[InvoiceLine]:
    """Group a cycle's fees, usage and add-ons into invoice lines.

    Order: fees per plan (by plan name), usage per call type (voice, sms, data, then any
    other type alphabetically), add-ons (by name). Usage explained by `charges` (rated
    under a rate plan) gets lines per price (see `_charge_lines`); `usage` totals without
    charges (provider prices passed through) get one line per call type. Fee, add-on and
    pass-through lines that round to zero are left out; usage information stays.
    """
    t("invoice", language)  # an unknown language fails here, whatever the input
    return [
        *(line for line in _fee_lines(fees, language) if line.amount != ZERO),
        *_charge_lines(charges, language),
        *(line for line in _passthrough_lines(usage, language) if line.amount != ZERO),
        *(line for line in _addon_lines(addons, language) if line.amount != ZERO),
    ]


def _fee_lines(fees: Iterable[FeeTotal], language: str) -> list[InvoiceLine]:
    return _counted_lines(((f.plan_name, f.monthly_fee) for f in fees),
                          t("line_subscription", language), "plan", language)


def _counted_lines(items: Iterable[tuple[str, Decimal]], description: str, placeholder: str,
                   language: str) -> list[InvoiceLine]:
    """One line per (name, price), counted: quantity x unit price always equals the amount."""
    groups: dict[tuple[str, Decimal], int] = defaultdict(int)
    for name, price in items:
        groups[(name, price)] += 1
    return [
        InvoiceLine(
            description=description.format(**{placeholder: name}),
            quantity=Decimal(count),
            unit=t("unit_pieces", language),
            unit_price=price,
            amount=round_cents(price * count),
        )
        for (name, price), count in sorted(groups.items())
    ]


def call_type_order(call_type: str) -> tuple[int, str]:
    """Sort key: voice, sms, data, then any other call type alphabetically."""
    known = call_type in CALL_TYPES
    return (CALL_TYPES.index(call_type) if known else len(CALL_TYPES), call_type)


_UNIT_SIZE = {"voice": 60, "voice_in": 60, "data": 1024}  # stored units (s, KB) per billed unit


def unit_of(call_type: str, language: str) -> tuple[int, str]:
    """(stored units per billed unit, the billed unit's label): voice minutes, data MB, else pieces."""
    size = _UNIT_SIZE.get(call_type, 1)
    return size, {60: t("unit_minutes", language), 1024: "MB"}.get(size, t("unit_pieces", language))


def _passthrough_lines(usage: Iterable[UsageTotal], language: str) -> list[InvoiceLine]:
    """Provider prices passed through: one line per call type, 1 x the amount charged."""
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    quantities: dict[str, Decimal] = defaultdict(Decimal)
    for total in usage:
        if total.rated_amount == ZERO:
            continue
        amounts[total.call_type] += total.rated_amount
        quantities[total.call_type] += (Decimal(total.duration_s) / 60 if total.call_type == "voice"
                                        else Decimal(total.volume_kb) / 1024 if total.call_type == "data"
                                        else Decimal(total.count))
    lines = []
    for call_type in sorted(amounts, key=call_type_order):
        key = f"line_passthrough_{call_type}" if call_type in CALL_TYPES else "line_passthrough_other"
        quantity = format_decimal(quantities[call_type].quantize(CENT, ROUND_HALF_UP), language)
        amount = amounts[call_type].quantize(PLACES_4, ROUND_HALF_UP)
        lines.append(InvoiceLine(t(key, language).format(call_type=call_type, quantity=quantity),
                                 Decimal(1), "", amount, round_cents(amount)))
    return lines


def _charge_lines(charges: Iterable[UsageCharge], language: str) -> list[InvoiceLine]:
    """Lines per call type: usage in the bundle (0.00), each price beyond it, set-ups, remainder.

    A price is the plan's, a time band's, a destination tariff's or a roaming zone's, with
    its increment scheme; a price that changed in the cycle gives a line per price, each
    with the days of its calls. Calls billed the minimum charge are a line of their own
    (count x minimum), as is EU roaming data beyond the fair-use volume (MB x surcharge).
    Quantities are shown to two decimals (rounded down); the unit price is the plan's or
    tariff's own price, so quantity x price, rounded to cents, is the line. What that
    leaves of the call type's rated total rounded to cents (seconds and KB beyond two
    decimals, the engine's per-CDR rounding, the lines' cent rounding) is one remainder
    line of 1 x the rest in cents, shown when not zero: a call type's lines then add up
    to its rated total rounded to cents, exactly.
    """
    groups: dict[PriceKey, _LineSums] = {}
    inside: dict[str, int] = defaultdict(int)
    rated: dict[str, Decimal] = defaultdict(Decimal)
    for c in charges:
        groups.setdefault(c.price_key, _LineSums()).add(c)
        inside[c.call_type] += c.in_bundle
        rated[c.call_type] += c.rated_amount
    prices_per_kind: dict[tuple[str, ...], int] = defaultdict(int)  # a kind of usage at more than one price
    for key in groups:
        prices_per_kind[key[:5]] += 1
    lines: list[InvoiceLine] = []
    for call_type in sorted(rated, key=call_type_order):
        size, unit = unit_of(call_type, language)
        first = len(lines)
        if inside[call_type]:
            quantity = (Decimal(inside[call_type]) / size).quantize(CENT, ROUND_HALF_UP)
            lines.append(InvoiceLine(t(f"line_in_bundle_{call_type}", language), quantity, unit,
                                     Decimal("0.0000"), Decimal("0.00")))
        for key in sorted(k for k in groups if k.call_type == call_type):
            _, zone, prefix, band, increment, price, setup_fee, minimum, surcharge = key
            sums = groups[key]
            period = (sums.first_day, sums.last_day) if prices_per_kind[key[:5]] > 1 else None
            what = _usage_description(call_type, zone, prefix, band, increment, period, language)
            quantity = (Decimal(sums.charged) / size).quantize(CENT, ROUND_DOWN)
            free_at_home = call_type == "voice_in" and not zone and not price
            if quantity and not free_at_home:
                lines.append(InvoiceLine(what, quantity, unit, price, round_cents(quantity * price)))
            if sums.setups and setup_fee:
                description = (t("line_setup_to", language).format(prefix=prefix) if prefix
                               else t("line_setup", language))
                lines.append(InvoiceLine(description, Decimal(sums.setups), t("unit_pieces", language),
                                         setup_fee, round_cents(sums.setups * setup_fee)))
            if sums.minimums:
                lines.append(InvoiceLine(t("line_minimum", language).format(usage=what), Decimal(sums.minimums),
                                         t("unit_pieces", language), minimum, round_cents(sums.minimums * minimum)))
            surcharged = (Decimal(sums.surcharged) / 1024).quantize(CENT, ROUND_DOWN)
            if surcharged and surcharge:
                lines.append(InvoiceLine(t("line_eu_fair_use", language), surcharged, "MB", surcharge,
                                         round_cents(surcharged * surcharge)))
        remainder = round_cents(rated[call_type]) - sum((line.amount for line in lines[first:]), Decimal(0))
        if remainder:
            lines.append(InvoiceLine(t(f"line_remainder_{call_type}", language), Decimal(1), "",
                                     remainder, remainder))
    return lines


class _LineSums:
    """What the charges of one price add up to, over the customer's subscriptions."""

    __slots__ = ("charged", "first_day", "last_day", "minimums", "setups", "surcharged")

    def __init__(self) -> None:
        self.charged = self.setups = self.minimums = self.surcharged = 0
        self.first_day: date | None = None
        self.last_day: date | None = None

    def add(self, charge: UsageCharge) -> None:
        self.charged += charge.charged
        self.setups += charge.setups
        self.minimums += charge.minimums
        self.surcharged += charge.surcharged
        if charge.first_day is not None:
            self.first_day = min(self.first_day or charge.first_day, charge.first_day)
        if charge.last_day is not None:
            self.last_day = max(self.last_day or charge.last_day, charge.last_day)


def _usage_description(call_type: str, zone: str, prefix: str, band: str, increment: str,
                       period: tuple[date | None, date | None] | None, language: str) -> str:
    """ "Bellen buiten bundel", "Bellen naar +44 (...)", "Data in zone world1", with band, EU, scheme, days."""
    if zone and zone != EU_ZONE:
        key = "line_zone_unknown" if zone == UNKNOWN_ZONE else "line_zone"
        text = t(f"{key}_{call_type}", language).format(zone=zone)
    elif prefix:
        text = t(f"line_to_{call_type}", language).format(prefix=prefix, country=country_of_prefix(prefix, language))
    else:
        text = t(f"line_usage_{call_type}", language)
    if zone == EU_ZONE:
        text += t("line_eu_roaming", language)
    if band:
        text += t("line_band", language).format(band=band)
    first_s, _, step_s = increment.partition("/")
    if increment and first_s != step_s:  # a real a/b scheme ("60/1"); "N/N" is a plain increment
        text += f" ({increment})"
    if period and period[0] and period[1]:
        first, last = format_day(period[0], language), format_day(period[1], language)
        text += f" ({first})" if first == last else f" ({first} - {last})"
    return text


def _addon_lines(addons: Iterable[AddonCharge], language: str) -> list[InvoiceLine]:
    return _counted_lines(((a.addon_name, a.amount) for a in addons), t("line_addon", language),
                          "addon", language)


def compute_amounts(lines: Sequence[InvoiceLine], vat: VatRule) -> InvoiceAmounts:
    """Round each line to cents, add them up, and charge VAT on the subtotal (half-up)."""
    rounded = tuple(replace(line, amount=round_cents(line.amount)) for line in lines)
    subtotal = sum((line.amount for line in rounded), start=Decimal("0.00"))
    if vat.reverse_charge:
        vat_rate, vat_amount = ZERO, Decimal("0.00")
    else:
        vat_rate, vat_amount = vat.rate, round_cents(subtotal * vat.rate / 100)
    return InvoiceAmounts(
        lines=rounded,
        subtotal=subtotal,
        vat_rate=vat_rate,
        vat=vat_amount,
        total=subtotal + vat_amount,
        reverse_charge=vat.reverse_charge,
    )


def vat_rule_for(
    customer_country: str,
    customer_vat_number: str | None,
    issuer_country: str = "NL",
    default_rate: Decimal = Decimal("21"),
) -> VatRule:
    """Reverse charge for a business (VAT number given) in another EU member state.

    Everything else, including customers outside the EU, is charged the
    default rate: the place-of-supply rules for those cases need an
    accountant's decision and are not guessed here.
    """
    customer = _eu_code(customer_country)
    issuer = _eu_code(issuer_country)
    has_vat_number = bool(customer_vat_number and customer_vat_number.strip())
    if (
        has_vat_number
        and customer != issuer
        and customer in EU_COUNTRIES
        and issuer in EU_COUNTRIES
    ):
        return VatRule(rate=ZERO, reverse_charge=True)
    return VatRule(rate=default_rate, reverse_charge=False)


def _eu_code(country: str) -> str:
    code = country.strip().upper()
    return "GR" if code == "EL" else code


def credit_note_amounts(original: InvoiceAmounts) -> InvoiceAmounts:
    """The full correction of an invoice: every line and total negated, same VAT treatment."""
    lines = tuple(
        replace(line, quantity=_negate(line.quantity), amount=_negate(line.amount))
        for line in original.lines
    )
    return InvoiceAmounts(
        lines=lines,
        subtotal=_negate(original.subtotal),
        vat_rate=original.vat_rate,
        vat=_negate(original.vat),
        total=_negate(original.total),
        reverse_charge=original.reverse_charge,
    )


def _negate(amount: Decimal) -> Decimal:
    # ZERO - x, unlike -x, keeps zero positive: no "-0.00" on a reverse-charge credit note.
    return ZERO - amount
