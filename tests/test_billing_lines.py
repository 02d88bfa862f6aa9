"""Invoice lines, VAT and credit notes. Every expected amount is worked out by hand in a comment."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.billing.lines import (
    AddonCharge,
    FeeTotal,
    InvoiceLine,
    UsageTotal,
    VatRule,
    build_invoice_lines,
    compute_amounts,
    credit_note_amounts,
    vat_rule_for,
)

D = Decimal


def _cycle() -> tuple[list[FeeTotal], list[UsageTotal], list[AddonCharge]]:
    fees = [
        FeeTotal("+31600000001", "Zakelijk 5GB", D("12.5000")),
        FeeTotal("+31600000002", "Zakelijk 5GB", D("12.5000")),
        FeeTotal("+31600000003", "Zakelijk 5GB", D("12.5000")),
        FeeTotal("+31600000004", "Zakelijk Onbeperkt", D("25.0000")),
        FeeTotal("+31600000005", "Gratis", D("0.0000")),
    ]
    usage = [
        UsageTotal("+31600000001", "voice", 4, 300, 0, D("2.1825")),
        UsageTotal("+31600000002", "voice", 5, 330, 0, D("2.1825")),
        UsageTotal("+31600000003", "voice", 20, 1200, 0, D("0.0000")),  # inside the bundle
        UsageTotal("+31600000001", "sms", 12, 0, 0, D("0.9600")),
        UsageTotal("+31600000002", "data", 3, 0, 51200, D("0.0040")),
    ]
    addons = [
        AddonCharge("+31600000001", "EU Roaming", D("5.0000")),
        AddonCharge("+31600000002", "EU Roaming", D("5.0000")),
    ]
    return fees, usage, addons


def test_lines_group_fees_usage_and_addons_in_dutch() -> None:
    fees, usage, addons = _cycle()
    lines = build_invoice_lines(fees, usage, addons, language="nl")
    assert lines == [
        # 3 subscriptions x €12.5000 = €37.50
        InvoiceLine("Abonnement Zakelijk 5GB", D(3), "st.", D("12.5000"), D("37.50")),
        # 1 x €25.0000 = €25.00; the free plan (€0) is left out
        InvoiceLine("Abonnement Zakelijk Onbeperkt", D(1), "st.", D("25.0000"), D("25.00")),
        # provider prices passed through (no charges explain them): 1 x the amount.
        # voice €2.1825 + €2.1825 = €4.3650 -> €4.37 half-up (half-even would give €4.36);
        # minutes: (300 + 330) s / 60 = 10.50 (the in-bundle 1200 s rated 0 are not counted)
        InvoiceLine("Bellen volgens tarief provider (10,5 min)", D(1), "", D("4.3650"), D("4.37")),
        # 12 messages, €0.9600 -> €0.96
        InvoiceLine("Sms volgens tarief provider (12 st.)", D(1), "", D("0.9600"), D("0.96")),
        # data €0.0040 rounds to €0.00: a zero line, left out
        # 2 x €5.0000 = €10.00
        InvoiceLine("Add-on EU Roaming", D(2), "st.", D("5.0000"), D("10.00")),
    ]


def test_lines_in_english() -> None:
    fees, usage, addons = _cycle()
    descriptions = [
        line.description for line in build_invoice_lines(fees, usage, addons, language="en")
    ]
    assert descriptions == [
        "Subscription Zakelijk 5GB",
        "Subscription Zakelijk Onbeperkt",
        "Calls at the provider's rates (10.5 min)",
        "Text messages at the provider's rates (12 pcs)",
        "Add-on EU Roaming",
    ]


def test_data_usage_is_counted_in_megabytes() -> None:
    usage = [UsageTotal("+31600000002", "data", 3, 0, 51200 + 1536, D("1.2345"))]
    (line,) = build_invoice_lines([], usage, [], language="en")
    # (51200 + 1536) KB / 1024 = 51.5 MB; €1.2345 -> €1.23 (…45 rounds down: 4 < 5), 1 x the amount
    assert line == InvoiceLine("Data at the provider's rates (51.5 MB)", D(1), "", D("1.2345"), D("1.23"))


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported language"):
        build_invoice_lines(_cycle()[0], [], [], language="fr")


def test_amounts_of_a_cycle() -> None:
    fees, usage, addons = _cycle()
    amounts = compute_amounts(build_invoice_lines(fees, usage, addons, language="nl"), VatRule())
    # 37.50 + 25.00 + 4.37 + 0.96 + 10.00 = 77.83
    assert amounts.subtotal == D("77.83")
    # 21 % of 77.83 = 16.3443 -> 16.34
    assert amounts.vat == D("16.34")
    assert amounts.vat_rate == D("21")
    # 77.83 + 16.34 = 94.17
    assert amounts.total == D("94.17")
    assert not amounts.reverse_charge


def test_vat_half_cent_rounds_up() -> None:
    amounts = compute_amounts([InvoiceLine("Fee", D(1), "pcs", D("12.50"), D("12.50"))], VatRule())
    # 21 % of 12.50 = 2.625 -> 2.63 half-up (banker's rounding would give 2.62)
    assert amounts.vat == D("2.63")
    # 12.50 + 2.63 = 15.13
    assert amounts.total == D("15.13")


def test_each_line_is_rounded_before_the_subtotal() -> None:
    lines = [
        InvoiceLine("A", D(1), "pcs", D("1.0050"), D("1.0050")),
        InvoiceLine("B", D(1), "pcs", D("1.0050"), D("1.0050")),
    ]
    amounts = compute_amounts(lines, VatRule())
    # each 1.0050 -> 1.01, so 1.01 + 1.01 = 2.02 (rounding the sum 2.0100 would give 2.01)
    assert [line.amount for line in amounts.lines] == [D("1.01"), D("1.01")]
    assert amounts.subtotal == D("2.02")
    # 21 % of 2.02 = 0.4242 -> 0.42; total 2.02 + 0.42 = 2.44
    assert amounts.vat == D("0.42")
    assert amounts.total == D("2.44")


def test_reduced_rate() -> None:
    amounts = compute_amounts(
        [InvoiceLine("Boek", D(1), "pcs", D("19.99"), D("19.99"))], VatRule(rate=D("9"))
    )
    # 9 % of 19.99 = 1.7991 -> 1.80; total 21.79
    assert (amounts.vat, amounts.total) == (D("1.80"), D("21.79"))


def test_reverse_charge_has_no_vat() -> None:
    rule = vat_rule_for("BE", "BE0123456789")
    assert rule == VatRule(rate=D("0"), reverse_charge=True)
    amounts = compute_amounts([InvoiceLine("Fee", D(8), "pcs", D("12.50"), D("100.00"))], rule)
    # 8 x 12.50 = 100.00, no VAT: total 100.00
    assert (amounts.subtotal, amounts.vat, amounts.total) == (D("100.00"), D("0"), D("100.00"))
    assert amounts.reverse_charge
    assert amounts.vat_rate == D("0")


@pytest.mark.parametrize(
    ("country", "vat_number", "reverse"),
    [
        ("BE", "BE0123456789", True),  # business in another member state
        ("be", " be0123456789 ", True),  # case and spaces do not matter
        ("EL", "EL123456789", True),  # Greece by its VAT prefix
        ("GR", "EL123456789", True),
        ("NL", "NL001234567B01", False),  # domestic business: Dutch VAT
        ("BE", None, False),  # consumer in another member state
        ("BE", "  ", False),
        ("US", "12-3456789", False),  # outside the EU: default rate, not guessed
    ],
)
def test_vat_rule_for(country: str, vat_number: str | None, reverse: bool) -> None:
    rule = vat_rule_for(country, vat_number)
    assert rule.reverse_charge is reverse
    assert rule.rate == (D("0") if reverse else D("21"))


def test_vat_rule_for_another_issuer_country() -> None:
    # A Belgian issuer charges its own rate to a Belgian business, reverse-charges a Dutch one.
    assert vat_rule_for("BE", "BE0123456789", issuer_country="BE", default_rate=D("21")) == (
        VatRule(rate=D("21"))
    )
    assert vat_rule_for("NL", "NL001234567B01", issuer_country="BE").reverse_charge


def test_credit_note_negates_everything() -> None:
    fees, usage, addons = _cycle()
    original = compute_amounts(build_invoice_lines(fees, usage, addons, language="nl"), VatRule())
    credit = credit_note_amounts(original)
    # the invoice above: 77.83 + 16.34 = 94.17, so the credit note is -77.83 - 16.34 = -94.17
    assert (credit.subtotal, credit.vat, credit.total) == (D("-77.83"), D("-16.34"), D("-94.17"))
    assert credit.vat_rate == D("21")
    assert credit.lines[0] == InvoiceLine(
        "Abonnement Zakelijk 5GB", D(-3), "st.", D("12.5000"), D("-37.50")
    )
    assert sum(line.amount for line in credit.lines) == credit.subtotal


def test_credit_note_of_reverse_charge_has_positive_zero_vat() -> None:
    rule = vat_rule_for("DE", "DE123456789")
    credit = credit_note_amounts(compute_amounts([InvoiceLine("X", D(1), "", D(5), D(5))], rule))
    assert credit.reverse_charge
    assert str(credit.vat) == "0.00"  # not "-0.00", which would print as "€ -0,00"
    assert credit.total == D("-5.00")


money = st.decimals(min_value=D("-1000"), max_value=D("10000"), places=4)


@given(
    amounts=st.lists(money, max_size=30),
    rate=st.sampled_from([D("0"), D("9"), D("21")]),
)
def test_totals_add_up(amounts: list[Decimal], rate: Decimal) -> None:
    lines = [InvoiceLine(f"L{i}", D(1), "", amount, amount) for i, amount in enumerate(amounts)]
    result = compute_amounts(lines, VatRule(rate=rate))
    assert all(line.amount == line.amount.quantize(D("0.01")) for line in result.lines)
    assert all(
        abs(r.amount - line.amount) <= D("0.005")
        for r, line in zip(result.lines, lines, strict=True)
    )
    assert result.subtotal == sum((line.amount for line in result.lines), D(0))
    assert abs(result.vat - result.subtotal * rate / 100) <= D("0.005")
    assert result.total == result.subtotal + result.vat
    credit = credit_note_amounts(result)
    assert credit.total + result.total == 0
    assert credit.vat + result.vat == 0
