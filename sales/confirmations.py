"""What a deal action says before it acts (crm_site.confirm) and after it acted.

Subscribing, signing, releasing a hold and a manager's decision each change what a
buyer pays or which unit is sold; the confirmation names the unit, the buyer and the
amounts, computed as the service computes them (sales.pricing.quote), and the
message afterwards says what changed and what comes next.
"""

from __future__ import annotations

from decimal import Decimal

from django.db.models import QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from crm_site.confirm import Confirmation, keyed
from crm_site.models import User
from crm_site.templatetags.money import yuan
from sales.models import (
    DealChange,
    DiscountRequest,
    Opportunity,
    PaymentItem,
    Unit,
    UnitHold,
)
from sales.pricing import quote


def _told(deal: Opportunity, requester: User) -> str:
    """Who the decision's notice went to (sales.services.money.decision_told)."""
    from sales.services.money import decision_told

    told = decision_told(deal, requester)
    return (told or requester).display_name


def _money(amount: Decimal | None) -> str:
    return yuan(amount, 2)


def _day(value) -> str:
    return formats.date_format(value, "DATE_FORMAT")


def _moment(value) -> str:
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")


def _percent(value: Decimal) -> str:
    return f"{value.normalize():f}%"


def _buyer(deal: Opportunity) -> str:
    return deal.customer.name


def _deposit(items: list[PaymentItem]) -> PaymentItem | None:
    return next((i for i in items if i.kind == PaymentItem.Kind.DEPOSIT), None)


def _deposit_fact(items: list[PaymentItem]) -> str:
    deposit = _deposit(items)
    if deposit is None:
        return _("not set yet: enter the payment plan")
    text = _("%(amount)s due %(day)s") % {
        "amount": _money(deposit.amount),
        "day": _day(deposit.due_date),
    }
    if deposit.received >= deposit.amount:
        return _("%(deposit)s, received") % {"deposit": text}
    return _("%(deposit)s, %(received)s received") % {
        "deposit": text,
        "received": _money(deposit.received),
    }


def for_deal(
    deal: Opportunity, *, hold: UnitHold | None, items: list[PaymentItem]
) -> dict[str, Confirmation]:
    """The confirmations the deal's page offers, by action."""
    asks: dict[str, Confirmation] = {}
    if hold is not None:
        asks["subscribe"] = keyed(subscribe(deal), "subscribe")
        asks["release"] = keyed(release(deal, hold=hold), "release")
    if deal.stage == Opportunity.Stage.SUBSCRIBED and deal.unit:
        asks["contract"] = keyed(contract(deal, items=items), "contract")
    return asks


def for_decision(item: DiscountRequest | DealChange, asked) -> dict[str, Confirmation]:
    """Approve and reject of one item of the approvals queue, each with its dialog."""
    kind = "discount" if isinstance(item, DiscountRequest) else "change"
    return {
        decision: keyed(
            asked(item, approve=decision == "approve"), kind, item.pk, decision
        )
        for decision in ("approve", "reject")
    }


# Subscription (认购) --------------------------------------------------------------


def subscribe(deal: Opportunity) -> Confirmation:
    unit = deal.unit
    priced = quote(unit=unit, discount_percent=deal.discount_percent)
    warnings = []
    if deal.discount_requests.filter(status=DiscountRequest.Status.PENDING).exists():
        warnings.append(
            _(
                "A discount for this deal waits for a sales manager: the subscription "
                "is refused until it is decided."
            )
        )
    return Confirmation(
        title=_("Record the subscription of unit %(unit)s?") % {"unit": unit.number},
        facts=[
            (_("Unit"), str(unit)),
            (_("Buyer"), _buyer(deal)),
            (_("List price"), _money(priced.list_price)),
            (
                _("Discount"),
                f"{_percent(priced.discount_percent)} (−{_money(priced.discount_amount)})"
                if priced.discount_percent
                else _("none"),
            ),
            (_("Subscription price"), _money(priced.price)),
            (_("Deposit"), _("entered with the payment plan, after subscribing")),
        ],
        consequence=_(
            "The unit leaves the market (subscribed), its hold ends, the price is "
            "fixed at %(price)s and %(buyer)s becomes a buyer."
        )
        % {"price": _money(priced.price), "buyer": _buyer(deal)},
        action=_("Subscribe"),
        warnings=warnings,
    )


def subscribed(deal: Opportunity) -> str:
    return _(
        "Unit %(unit)s subscribed by %(buyer)s at %(price)s. Next: enter the payment "
        "plan with the deposit, print the subscription agreement, then the contract."
    ) % {
        "unit": str(deal.unit),
        "buyer": _buyer(deal),
        "price": _money(deal.agreed_price),
    }


# Contract (签约) ------------------------------------------------------------------


def _received(items: list[PaymentItem]) -> tuple[Decimal, Decimal]:
    due = sum((i.amount for i in items), start=Decimal("0"))
    got = sum((i.received for i in items), start=Decimal("0"))
    return due, got


def contract(deal: Opportunity, *, items: list[PaymentItem]) -> Confirmation:
    due, got = _received(items)
    facts = [
        (_("Unit"), str(deal.unit)),
        (_("Buyer"), _buyer(deal)),
        (_("Contract price"), _money(deal.agreed_price)),
        (_("Deposit"), _deposit_fact(items)),
    ]
    if items:
        facts += [
            (_("Received"), _money(got)),
            (_("Outstanding"), _money(due - got)),
        ]
    if items and got >= due:
        consequence = _(
            "The unit is recorded as contracted; every payment is in, so the deal "
            "is paid in full."
        )
    else:
        consequence = _(
            "The unit is recorded as contracted and the deal moves to contract "
            "signed; it is paid in full once every payment is received."
        )
    return Confirmation(
        title=_("Record the signed contract for unit %(unit)s?")
        % {"unit": deal.unit.number},
        facts=facts,
        consequence=consequence,
        action=_("Record the contract"),
    )


def contracted(deal: Opportunity) -> str:
    items = list(deal.payment_items.all())
    due, got = _received(items)
    done = _("Contract signed for unit %(unit)s (%(buyer)s) at %(price)s.") % {
        "unit": str(deal.unit),
        "buyer": _buyer(deal),
        "price": _money(deal.agreed_price),
    }
    if not items:
        return f"{done} " + _("Next: enter the payment plan.")
    if got >= due:
        return f"{done} " + _("Every payment is received: the deal is paid in full.")
    upcoming = next(i for i in items if i.received < i.amount)
    return f"{done} " + _(
        "%(outstanding)s outstanding. Next: %(kind)s of %(amount)s due %(day)s."
    ) % {
        "outstanding": _money(due - got),
        "kind": upcoming.get_kind_display(),
        "amount": _money(upcoming.outstanding),
        "day": _day(upcoming.due_date),
    }


# Releasing a hold ----------------------------------------------------------------


def release(deal: Opportunity, *, hold: UnitHold) -> Confirmation:
    # The hold's unit is the deal's (unit_reserve sets both), already loaded.
    unit = deal.unit if deal.unit_id == hold.unit_id else hold.unit
    return Confirmation(
        title=_("Release unit %(unit)s?") % {"unit": unit.number},
        facts=[
            (_("Unit"), str(unit)),
            (_("Buyer"), _buyer(deal)),
            (_("Held until"), _moment(hold.held_until)),
            (_("List price"), _money(unit.list_price)),
        ],
        consequence=_(
            "The unit goes back on sale at once: any consultant may reserve it. "
            "The deal returns to visited."
        ),
        action=_("Release the unit"),
        danger=True,
    )


def released(deal: Opportunity, *, unit: Unit) -> str:
    return _(
        "Unit %(unit)s is on sale again; the deal of %(buyer)s is back at visited. "
        "Next: hold another unit for %(buyer)s, or mark the deal lost."
    ) % {"unit": str(unit), "buyer": _buyer(deal)}


# A sales manager's decisions -------------------------------------------------------


def _decision_label(approve: bool) -> str:
    return _("Approve") if approve else _("Reject")


def discount_decision(item: DiscountRequest, *, approve: bool) -> Confirmation:
    deal = item.opportunity
    unit = deal.unit
    facts = [
        (_("Buyer"), _buyer(deal)),
        (_("Unit"), str(unit) if unit else "—"),
        (_("Asked by"), item.requested_by.display_name),
        (
            _("Discount"),
            _("%(percent)s (limit %(limit)s)")
            % {
                "percent": _percent(item.percent),
                "limit": _percent(deal.project.discount_limit),
            },
        ),
        (_("Reason"), item.reason),
    ]
    warnings = []
    told = _told(deal, item.requested_by)
    if unit is not None:
        asked = quote(unit=unit, discount_percent=item.percent)
        current = quote(unit=unit, discount_percent=deal.discount_percent)
        facts[4:4] = [
            (_("List price"), _money(asked.list_price)),
            (_("Current price"), _money(current.price)),
            (_("Price after the discount"), _money(asked.price)),
        ]
        if asked.below_floor:
            warnings.append(
                _("The price would be below the floor price %(floor)s.")
                % {"floor": _money(asked.floor_price)}
            )
        consequence = (
            _("The price of the deal becomes %(price)s (−%(amount)s); %(who)s is told.")
            % {
                "price": _money(asked.price),
                "amount": _money(asked.discount_amount),
                "who": told,
            }
            if approve
            else _("The deal keeps its price of %(price)s; %(who)s is told.")
            % {"price": _money(current.price), "who": told}
        )
    else:
        consequence = _("The deal holds no unit any more; %(who)s is told.") % {
            "who": told
        }
    return Confirmation(
        title=(
            _("Approve a discount of %(percent)s for %(buyer)s?")
            if approve
            else _("Reject a discount of %(percent)s for %(buyer)s?")
        )
        % {"percent": _percent(item.percent), "buyer": _buyer(deal)},
        facts=facts,
        consequence=consequence,
        action=_decision_label(approve),
        danger=not approve,
        warnings=warnings,
    )


def discount_decided(item: DiscountRequest, *, approved: bool) -> str:
    """The message after the decision; ``item`` as it was loaded before it."""
    deal = item.opportunity
    values = {
        "percent": _percent(item.percent),
        "buyer": _buyer(deal),
        "who": _told(deal, item.requested_by),
    }
    if approved:
        values["price"] = _money(
            quote(unit=deal.unit, discount_percent=item.percent).price
        )
        return (
            _(
                "Discount of %(percent)s for %(buyer)s approved: the price is now "
                "%(price)s. %(who)s is told; next, the subscription."
            )
            % values
        )
    return (
        _("Discount of %(percent)s for %(buyer)s rejected. %(who)s is told.") % values
    )


def _settlement_facts(change: DealChange, money) -> list[tuple[str, str]]:
    """The money of the change under the project's rule, before it is approved."""
    if change.kind == DealChange.Kind.CANCEL:
        return [
            (_("Received"), _money(money.received)),
            (_("Forfeit (project rule)"), _money(money.forfeit)),
            (_("Refund to the buyer"), _money(money.refund)),
        ]
    if change.kind == DealChange.Kind.CHANGE_UNIT:
        facts = [
            (
                _("Received, counted against the new price"),
                _money(money.received - money.forfeit),
            )
        ]
        if money.forfeit:
            facts.append((_("Forfeit (project rule)"), _money(money.forfeit)))
        if money.refund:
            facts.append((_("Refund to the buyer"), _money(money.refund)))
        elif money.outstanding is not None:
            facts.append((_("Still to pay"), _money(money.outstanding)))
        return facts
    return [(_("Fee for the change"), _money(money.fee))]


def change_decision(change: DealChange, *, approve: bool) -> Confirmation:
    from sales.services.changes import SIGNED, settlement

    deal = change.opportunity
    signed = deal.stage in SIGNED
    money = settlement(deal=deal, kind=change.kind, new_unit=change.new_unit)
    facts = [
        (_("Buyer"), _buyer(deal)),
        (_("Stage"), deal.get_stage_display()),
        (_("Unit"), str(deal.unit) if deal.unit else "—"),
        (
            _("Contract price") if signed else _("Subscription price"),
            _money(deal.agreed_price),
        ),
        (_("Kind of change"), change.get_kind_display()),
    ]
    if change.kind == DealChange.Kind.CHANGE_UNIT and change.new_unit:
        new_price = money.new_price
        facts += [
            (_("New unit"), str(change.new_unit)),
            (_("New price"), _money(new_price)),
        ]
        done = _(
            "%(buyer)s moves to unit %(new)s at %(price)s; unit %(old)s goes back "
            "on sale."
        ) % {
            "buyer": _buyer(deal),
            "new": change.new_unit.number,
            "price": _money(new_price),
            "old": deal.unit.number if deal.unit else "—",
        }
        if money.refund:
            done += " " + _("%(refund)s is recorded as due back to the buyer.") % {
                "refund": _money(money.refund)
            }
        if approve:
            done += _lapsed_hold_ends(change.new_unit)
    elif change.kind == DealChange.Kind.CHANGE_BUYER and change.new_customer:
        facts.append((_("New buyer"), change.new_customer.name))
        done = _("%(new)s becomes the buyer of unit %(unit)s instead of %(old)s.") % {
            "new": change.new_customer.name,
            "unit": deal.unit.number if deal.unit else "—",
            "old": _buyer(deal),
        }
    elif signed:
        done = _(
            "The contract is cancelled: unit %(unit)s goes back on sale, the deal is "
            "lost, %(forfeit)s is forfeited and %(refund)s is recorded as due back "
            "to the buyer; any commission on the deal is clawed back."
        ) % {
            "unit": deal.unit.number if deal.unit else "—",
            "forfeit": _money(money.forfeit),
            "refund": _money(money.refund),
        }
    else:
        done = _(
            "The subscription is cancelled: unit %(unit)s goes back on sale and the "
            "deal is lost."
        ) % {"unit": deal.unit.number if deal.unit else "—"}
        if money.received:
            done += " " + _(
                "%(forfeit)s is forfeited and %(refund)s is recorded as due back."
            ) % {"forfeit": _money(money.forfeit), "refund": _money(money.refund)}
    facts += _settlement_facts(change, money)
    facts += [
        (_("Asked by"), change.requested_by.display_name),
        (_("Reason"), change.reason),
    ]
    return Confirmation(
        title=(
            _("Approve the change for %(buyer)s: %(kind)s?")
            if approve
            else _("Reject the change for %(buyer)s: %(kind)s?")
        )
        % {"buyer": _buyer(deal), "kind": change.get_kind_display()},
        facts=facts,
        consequence=done
        if approve
        else _("The deal stays as it is; %(who)s is told.")
        % {"who": _told(change.opportunity, change.requested_by)},
        action=_decision_label(approve),
        danger=not approve or change.kind == DealChange.Kind.CANCEL,
    )


def told_lapsed_holds() -> QuerySet:
    """Holds past their deadline now, with their deal's consultant (who is told):
    what a list of changes prefetches on its new units as ``lapsed_holds`` (the
    approvals)."""
    from sales.services.deals import lapsed_holds

    return lapsed_holds(timezone.now()).select_related("opportunity__consultant")


def _lapsed_hold_ends(unit: Unit) -> str:
    """The sentence saying that approving ends another deal's hold on ``unit`` whose
    deadline has passed (sales.services.changes.open_for_change), or "". Only a
    reserved unit can have one; a list prefetches them (lapsed_holds)."""
    if unit.status != Unit.Status.RESERVED:
        return ""
    prefetched = getattr(unit, "lapsed_holds", None)
    if prefetched is not None:
        hold = prefetched[0] if prefetched else None
    else:
        hold = told_lapsed_holds().filter(unit=unit).first()
    if hold is None:
        return ""
    values = {"unit": unit.number, "until": _moment(hold.held_until)}
    consultant = hold.opportunity.consultant
    if consultant is None or not consultant.is_active:
        return (
            " "
            + _(
                "The hold on unit %(unit)s ran out at %(until)s and ends with this change."
            )
            % values
        )
    return " " + _(
        "The hold on unit %(unit)s ran out at %(until)s and ends with this change; "
        "%(consultant)s is told."
    ) % {**values, "consultant": consultant.display_name}


def change_decided(change: DealChange, *, approved: bool) -> str:
    """The message after the decision; ``change`` as it was loaded before it."""
    who = _told(change.opportunity, change.requested_by)
    if approved:
        return _("Change approved: %(done)s %(who)s is told.") % {
            "done": change_decision(change, approve=True).consequence,
            "who": who,
        }
    return _(
        "Change rejected (%(kind)s, %(buyer)s): the deal stays as it was. "
        "%(who)s is told."
    ) % {
        "kind": change.get_kind_display(),
        "buyer": change.opportunity.customer.name,
        "who": who,
    }
