"""Bill-shock notices: at 80 % and 100 % of the roaming data cap, mail the customer's contact.

`BillingInsightTotals` finds the subscriptions at a level (core.insights.bill_shock) and
dispatches one `MailBillShock` per subscription and level. Each notice is claimed in the
notification table under (customer, cycle, subscription, level), so a recalculation, a
redelivered command or a second worker never sends a level twice in a cycle
(core.billing.mail.claim_notification).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from core.billing.i18n import format_money
from core.billing.mail import MailOutcome, claim_notification, new_message, send_claimed
from core.bus import Command, HandlerContext
from core.config import Settings
from core.insights import bill_shock
from core.models import Customer, Subscription
from core.totals import cycle_of

NOTICE_KIND = "bill_shock"

_TEXT = {
    "nl": ("Roaming: {level}% van uw datalimiet buiten de EU bereikt voor {number}",
           "Beste {customer},\n\nHet dataverbruik buiten de EU/EER van {number} staat in de periode "
           "{period} op {spent}, {level}% van uw limiet van {cap}.\n{after}\n"
           "Met vriendelijke groet,\n{issuer}\n"),
    "en": ("Roaming: {level}% of your data limit outside the EU reached for {number}",
           "Dear {customer},\n\nData roaming outside the EU/EEA on {number} is at {spent} in the "
           "period {period}, {level}% of your limit of {cap}.\n{after}\n"
           "Kind regards,\n{issuer}\n"),
}
_AFTER = {
    "nl": {80: "Boven de limiet kan uw provider dataverkeer buiten de EU blokkeren.\n",
           100: "De limiet is bereikt: uw provider blokkeert verder dataverkeer buiten de EU; "
                "wat al verbruikt is, wordt gefactureerd.\n"},
    "en": {80: "Beyond the limit your provider may block data outside the EU.\n",
           100: "The limit is reached: your provider blocks further data outside the EU; what "
                "was used is billed.\n"},
}


@dataclass(frozen=True)
class MailBillShock(Command):
    customer_id: int
    cycle_start_date: date
    subscription_id: int
    level: int  # 80 or 100


def notice_key(customer_id: int, cycle_start: date, subscription_id: int, level: int) -> str:
    """One notice per level per subscription per cycle."""
    return f"{customer_id}:{cycle_start.isoformat()}:{subscription_id}:{level}"


def dispatch_notices(ctx: HandlerContext, customer_id: int, cycle_start: date) -> int:
    """Dispatch a MailBillShock for each level reached; the mail handler sends each once."""
    deps = ctx.bus.deps
    if deps is None or not deps.settings.smtp.configured:
        return 0
    customer = ctx.session.get(Customer, customer_id)
    if customer is None or not customer.email:
        return 0
    dispatched = 0
    for sub_id, status in sorted(bill_shock(ctx.session, customer, cycle_start).items()):
        for level in status.levels:
            ctx.dispatch(MailBillShock(customer_id, cycle_start, sub_id, level))
            dispatched += 1
    return dispatched


def mail_bill_shock(cmd: MailBillShock, ctx: HandlerContext) -> None:
    if ctx.bus.deps is not None:  # no settings, no SMTP: nothing to mail
        send_bill_shock(ctx, ctx.bus.deps.settings, cmd)


def send_bill_shock(ctx: HandlerContext, settings: Settings, cmd: MailBillShock) -> MailOutcome:
    """Mail one notice to the customer's contact, unless that level was already sent."""
    with ctx.db.reader() as session:
        customer = session.get(Customer, cmd.customer_id)
        number = session.scalars(select(Subscription.number)
                                 .where(Subscription.id == cmd.subscription_id)).first()
        status = bill_shock(session, customer, cmd.cycle_start_date).get(cmd.subscription_id) \
            if customer is not None else None
    if customer is None or not customer.email or number is None:
        return MailOutcome("skipped", "no customer contact to mail")
    if not settings.smtp.configured or status is None or cmd.level not in status.levels:
        return MailOutcome("skipped", "SMTP is not configured or the level is not reached")
    key = notice_key(cmd.customer_id, cmd.cycle_start_date, cmd.subscription_id, cmd.level)
    claim = claim_notification(ctx.db, NOTICE_KIND, key, customer.email,
                               detail=f"{number}: {status.spent} of {status.cap}")
    if claim is None:
        return MailOutcome("skipped", f"bill-shock notice {key} already sent")
    language = customer.language if customer.language in _TEXT else "nl"
    subject, body = _TEXT[language]
    values = {"level": cmd.level, "number": number, "customer": customer.name,
              "period": cycle_of(customer, cmd.cycle_start_date).label,
              "spent": format_money(status.spent, language), "cap": format_money(status.cap, language),
              "after": _AFTER[language][cmd.level], "issuer": settings.issuer.name}
    message = new_message(settings.smtp, [customer.email], subject.format(**values),
                          body.format(**values))
    send_claimed(ctx.db, settings.smtp, claim, message)
    return MailOutcome("sent", f"bill-shock notice {cmd.level}% sent to {customer.email}")
