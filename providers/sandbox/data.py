"""Deterministic, lazily generated subscriptions and CDRs for the sandbox.

The same (settings, month) gives the same records on every run and in every
process: each subscription and each (subscription, day) has its own seeded
random stream, so any slice of a month can be produced without producing what
comes before it, and a 200,000-CDR month is never built in memory.

What it looks like: Dutch mobile numbers, calls on weekdays in office hours,
some roaming (travellers roam more), a flatliner (no usage at all) every
`flatliner_every` subscriptions, a spike (three times the usage, half of it
on one day) every `spike_every`, international destinations (+32, +49, +44).
Roaming CDRs carry the country visited: mostly the EU, sometimes Switzerland, the
US, Turkey or Japan, and now and then none (platforms do not always report it).
Abroad, two in five calls are incoming (`voice_in`): platforms report those only
while roaming, where the visited network charges them (a little in the EU/EEA,
much more outside it). Roaming in the EU/EEA costs what the same usage costs at
home (roam like at home); outside it, or without a country, roaming surcharges apply.
"""

from __future__ import annotations

import calendar
import hashlib
import random
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from itertools import accumulate
from math import exp

from providers.base import InvoiceTotal, ProviderCdr, ProviderSubscription, check_month
from providers.records import AMSTERDAM

DEVICES: tuple[tuple[str, str], ...] = (  # model, TAC (first 8 IMEI digits)
    ("Apple iPhone 15", "35398412"),
    ("Apple iPhone 13", "35332211"),
    ("Samsung Galaxy S24", "35064822"),
    ("Samsung Galaxy A54", "35170417"),
    ("Google Pixel 8", "35814561"),
    ("Fairphone 5", "35162510"),
    ("Nokia 3310 4G", "35289909"),
)
PLANS = ("ZAKELIJK-UNL", "ZAKELIJK-20GB", "ZAKELIJK-5GB", "ZAKELIJK-1GB")
_HOURS = tuple(range(24))
_HOUR_WEIGHTS = (1, 1, 0, 0, 0, 1, 2, 6, 14, 18, 18, 16, 12, 15, 17, 17, 15, 12, 8, 6, 5, 4, 3, 2)
_WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 0.95, 0.35, 0.25)
_REF_CODES = {
    "kpn_sp16": "SP16",
    "kpn_een": "EEN",
    "kpn_grip": "GRIP",
    "vodafone": "VF",
    "tmobile_calvi": "CALVI",
    "routit": "RIT",
    "yielder": "YLD",
}
_AREA_CODES = (20, 10, 30, 40, 70)  # Amsterdam, Rotterdam, Utrecht, Eindhoven, Den Haag
_INTERNATIONAL = (("+324", 8), ("+4915", 9), ("+447", 9))  # prefix, digits that follow


@dataclass(frozen=True)
class CustomerSettings:
    """What the sandbox generates for one customer of one platform."""

    platform: str
    customer_ref: str
    subscriptions: int = 12
    cdrs_per_subscription: int = 40
    seed: int = 0
    flatliner_every: int = 13  # subscription i is a flatliner when i % every == 7
    spike_every: int = 17  # ... a spike when i % every == 11
    page_size: int = 1000  # records per page on paged listings
    subscriptions_per_file: int = 5  # file queue: subscriptions per CDR file

    def key(self, *parts: object) -> str:
        return "|".join(str(part) for part in (self.seed, self.platform, self.customer_ref, *parts))

    def is_flatliner(self, index: int) -> bool:
        return self.flatliner_every > 0 and index % self.flatliner_every == 7

    def is_spike(self, index: int) -> bool:
        return (
            self.spike_every > 0 and index % self.spike_every == 11 and not self.is_flatliner(index)
        )

    def cdr_count(self, index: int) -> int:
        """CDRs of subscription `index` in any month."""
        if self.is_flatliner(index):
            return 0
        return self.cdrs_per_subscription * (3 if self.is_spike(index) else 1)

    def month_cdr_count(self) -> int:
        return sum(self.cdr_count(index) for index in range(self.subscriptions))


def _digits(key: str, length: int) -> str:
    value = int.from_bytes(hashlib.sha256(key.encode()).digest()[:12], "big")
    return str(value % 10**length).zfill(length)


def _luhn_digit(digits: str) -> str:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def subscription_number(settings: CustomerSettings, index: int) -> str:
    """A unique Dutch mobile number per subscription of the customer."""
    base = int(_digits(settings.key("numbers"), 8))
    return f"+316{(base + index * 7919) % 10**8:08d}"


def subscription(settings: CustomerSettings, index: int) -> ProviderSubscription:
    rng = random.Random(settings.key("subscription", index))
    model, tac = rng.choice(DEVICES)
    serial = tac + _digits(settings.key("imei", index), 6)
    start = date(2017 + rng.randrange(7), rng.randrange(1, 13), rng.randrange(1, 29))
    ported = index % 5 in (1, 3)
    fixed_term = index % 4 == 2
    return ProviderSubscription(
        number=subscription_number(settings, index),
        customer_ref=settings.customer_ref,
        sim="89310" + _digits(settings.key("iccid", index), 14),
        imei=serial + _luhn_digit(serial),
        device_model=model,
        start_date=start,
        end_date=date(2031 + index % 3, start.month, start.day) if fixed_term else None,
        portation_date=start if ported else None,
        plan_code=rng.choice(PLANS),
    )


def subscriptions(settings: CustomerSettings, month: str) -> Iterator[ProviderSubscription]:
    """The customer's subscriptions (the same in every month)."""
    check_month(month)
    for index in range(settings.subscriptions):
        yield subscription(settings, index)


@lru_cache(maxsize=4096)
def _day_counts(settings: CustomerSettings, month: str, index: int) -> tuple[int, ...]:
    """How many CDRs subscription `index` makes on each day of `month`."""
    year, number = check_month(month)
    days = calendar.monthrange(year, number)[1]
    weights = [_WEEKDAY_WEIGHTS[date(year, number, day).weekday()] for day in range(1, days + 1)]
    if settings.is_spike(index):
        spike_day = random.Random(settings.key("spike", month, index)).randrange(days)
        weights[spike_day] += sum(weights)  # half the month's usage on one day
    total = settings.cdr_count(index)
    cumulative = list(accumulate(weights))
    marks = [round(total * part / cumulative[-1]) for part in cumulative]
    return tuple(mark - before for mark, before in zip(marks, [0, *marks[:-1]], strict=True))


def _day_cdrs(
    settings: CustomerSettings, month: str, index: int, day: int, count: int
) -> Iterator[ProviderCdr]:
    rng = random.Random(settings.key("cdrs", month, index, day))
    year, number = check_month(month)
    hours = rng.choices(_HOURS, weights=_HOUR_WEIGHTS, k=count)
    draw = rng.random
    seconds = sorted(hour * 3600 + int(draw() * 3600) for hour in hours)
    own_number = subscription_number(settings, index)
    roaming_rate = 0.25 if index % 7 == 3 else 0.02
    code = _REF_CODES.get(settings.platform, settings.platform.upper())
    ref_stem = f"{code}-{settings.customer_ref}-{year}{number:02d}-{index:04d}-{day:02d}"
    for serial, second in enumerate(seconds):
        provider_ref = f"{ref_stem}-{serial:06d}"
        roll = draw()
        call_type = "voice" if roll < 0.55 else "sms" if roll < 0.75 else "data"
        roaming = draw() < roaming_rate
        visited, incoming = _roaming(provider_ref) if roaming else ("", False)
        surcharged = roaming and visited not in _EU_VISITED
        duration = volume = 0
        if call_type == "data":
            destination = "internet"
            volume = max(1, min(2_000_000, int(exp(rng.gauss(7.0, 1.5)))))
            units = volume * (10 if surcharged else 2)  # 0.0002 EUR/KB at home
        else:
            destination, abroad = _destination(rng)
            if call_type == "voice":
                duration = max(1, min(7200, int(exp(rng.gauss(4.0, 1.1)))))
                minutes = -(-duration // 60)
                units = minutes * (2500 if abroad else 350) + (4000 * minutes if surcharged else 0)
                if incoming:  # the destination is the caller
                    call_type = "voice_in"
                    units = minutes * (2500 if surcharged else 100)
            else:
                units = 2000 if abroad or surcharged else 600
        hour, rest = divmod(second, 3600)
        yield ProviderCdr(
            provider_ref=provider_ref,
            number=own_number,
            call_date=datetime(year, number, day, hour, rest // 60, rest % 60, tzinfo=AMSTERDAM),
            call_type=call_type,
            destination=destination,
            duration_s=duration,
            volume_kb=volume,
            provider_cost=Decimal(units).scaleb(-4),
            roaming=roaming,
            visited_country=visited,
        )


# Where travellers roam, with weights; "" is a roaming CDR without a reported country.
VISITED = ("DE", "BE", "FR", "ES", "IT", "CH", "GB", "US", "TR", "JP", "")
_VISITED_WEIGHTS = (20, 20, 15, 12, 8, 6, 6, 5, 3, 2, 3)
_EU_VISITED = frozenset({"DE", "BE", "FR", "ES", "IT"})
INCOMING_SHARE = 0.4  # of the calls made while roaming


def _roaming(provider_ref: str) -> tuple[str, bool]:
    """The visited country of a roaming CDR, and whether a call there is incoming.

    Drawn from the CDR's own stream, so the other draws stay as they were.
    """
    seed = int.from_bytes(hashlib.blake2b(provider_ref.encode(), digest_size=8).digest(), "big")
    stream = random.Random(seed)
    country = stream.choices(VISITED, weights=_VISITED_WEIGHTS)[0]
    return country, stream.random() < INCOMING_SHARE


def _destination(rng: random.Random) -> tuple[str, bool]:
    roll = rng.random()
    if roll < 0.6:
        return f"+316{int(rng.random() * 10**8):08d}", False
    if roll < 0.88:
        area = _AREA_CODES[int(rng.random() * len(_AREA_CODES))]
        return f"+31{area}{int(rng.random() * 10**7):07d}", False
    prefix, length = _INTERNATIONAL[int(rng.random() * len(_INTERNATIONAL))]
    return f"{prefix}{int(rng.random() * 10**length):0{length}d}", True


def cdrs(
    settings: CustomerSettings,
    month: str,
    start: int = 0,
    stop: int | None = None,
    *,
    subscription_range: range | None = None,
) -> Iterator[tuple[int, ProviderCdr]]:
    """(ordinal, CDR) for the month, from ordinal `start` up to `stop`, lazily.

    Ordinals count the month's CDRs in listing order (subscription by
    subscription, each in time order). `subscription_range` limits the
    listing to some subscriptions (a file of the file queue).

    Each subscription passed over whole leaves its costs' sum for `invoice_total`:
    the provider's invoice request after a download then adds up a few subtotals
    instead of generating the month a second time.
    """
    indexes = subscription_range or range(settings.subscriptions)
    ordinal = sum(settings.cdr_count(index) for index in range(indexes.start))
    for index in indexes:
        in_subscription = settings.cdr_count(index)
        if stop is not None and ordinal >= stop:
            return
        if ordinal + in_subscription <= start:
            ordinal += in_subscription
            continue
        # summed only when this pass starts at the subscription's first CDR
        whole = ordinal >= start
        amount, left = _ZERO, in_subscription
        if whole and not left:
            _remember_subtotal(settings, month, index, _ZERO)
        for day, count in enumerate(_day_counts(settings, month, index), 1):
            if ordinal + count <= start:
                ordinal += count
                continue
            for cdr in _day_cdrs(settings, month, index, day, count):
                if stop is not None and ordinal >= stop:
                    return
                if whole:
                    amount += cdr.provider_cost
                    left -= 1
                    if not left:  # before the last yield: a paged reader may stop there
                        _remember_subtotal(settings, month, index, amount)
                if ordinal >= start:
                    yield ordinal, cdr
                ordinal += 1


_ZERO = Decimal("0.0000")  # the invoice's starting value: a sum keeps its four decimals
# Cost subtotals per (settings, month, subscription) left by whole passes, oldest first out.
_SUBTOTALS: OrderedDict[tuple[CustomerSettings, str, int], Decimal] = OrderedDict()
_SUBTOTALS_KEPT = 100_000
_subtotals_lock = threading.Lock()


def _remember_subtotal(settings: CustomerSettings, month: str, index: int, amount: Decimal) -> None:
    with _subtotals_lock:
        _SUBTOTALS[(settings, month, index)] = amount
        _SUBTOTALS.move_to_end((settings, month, index))
        while len(_SUBTOTALS) > _SUBTOTALS_KEPT:
            _SUBTOTALS.popitem(last=False)


def invoice_total(settings: CustomerSettings, month: str) -> InvoiceTotal:
    """What the provider bills: every CDR of the month, readable or not.

    The subscriptions a download already passed over are added up from their
    subtotals; the others are generated (and leave theirs).
    """
    check_month(month)
    amount = _ZERO
    for index in range(settings.subscriptions):
        with _subtotals_lock:
            subtotal = _SUBTOTALS.get((settings, month, index))
        if subtotal is None:  # generated now (which leaves it for the next time)
            one = cdrs(settings, month, subscription_range=range(index, index + 1))
            subtotal = sum((cdr.provider_cost for _, cdr in one), _ZERO)
        amount += subtotal
    return InvoiceTotal(amount=amount, cdr_count=settings.month_cdr_count())


class ResumableCdrs:
    """`cdrs()` slices that pick up where the previous page stopped.

    Paged listings ask for consecutive slices; keeping a few half-read
    iterators saves regenerating the part of a day a page starts in.
    """

    def __init__(self, keep: int = 16) -> None:
        self._keep = keep
        self._open: OrderedDict[tuple[object, ...], Iterator[tuple[int, ProviderCdr]]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def read(
        self,
        settings: CustomerSettings,
        month: str,
        start: int,
        stop: int,
        subscription_range: range | None = None,
    ) -> Iterator[tuple[int, ProviderCdr]]:
        if start >= stop:
            return
        key = (settings, month, subscription_range)
        with self._lock:
            source = self._open.pop((*key, start), None)
        if source is None:
            source = cdrs(settings, month, start, subscription_range=subscription_range)
        for ordinal, cdr in source:
            yield ordinal, cdr
            if ordinal + 1 >= stop:
                with self._lock:
                    self._open[(*key, stop)] = source
                    while len(self._open) > self._keep:
                        self._open.popitem(last=False)
                return
