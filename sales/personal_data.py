"""What sales holds about one customer, for personal-information requests: deals and
their history, money, holds, registrations and ownership decisions, escalations.
Registered in SalesConfig.ready().

A deal that reached a subscription (认购) or a contract (签约), or that has a payment
plan, is a legal and accounting record: it stays whole, and keeps the buyer's name as
on the contract. The free text of other deals is cleared.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm_site import events
from crm_site.personal_data import (
    Erasure,
    Section,
    register,
    register_relatives,
    rows,
)
from sales.models import (
    CoBuyer,
    DealChange,
    DepositRefund,
    DiscountRequest,
    FollowUpEscalation,
    IntentDeposit,
    Opportunity,
    OwnershipEvent,
    PaymentItem,
    Receipt,
    Registration,
    Selection,
    StageChange,
    UnitHold,
)

# Open deals that have not reached a contract: anonymising would leave a live sale
# without a buyer, so the deal must be contracted or closed (lost) first.
BEFORE_CONTRACT = [
    Opportunity.Stage.NEW,
    Opportunity.Stage.CONTACTED,
    Opportunity.Stage.VISITED,
    Opportunity.Stage.RESERVED,
    Opportunity.Stage.SUBSCRIBED,
]
CONTRACTED = [Opportunity.Stage.CONTRACTED, Opportunity.Stage.PAID]


def deals_of(customer: Any) -> QuerySet:
    return Opportunity.objects.filter(customer=customer)


def legal_deals(customer: Any) -> QuerySet:
    """Deals that are a legal or accounting record: contracted, once subscribed, or
    with a payment plan."""
    return deals_of(customer).filter(
        Q(stage__in=CONTRACTED)
        | Exists(
            StageChange.objects.filter(
                opportunity=OuterRef("pk"), to_stage=Opportunity.Stage.SUBSCRIBED
            )
        )
        | Exists(PaymentItem.objects.filter(opportunity=OuterRef("pk")))
    )


def _other_deal_ids(customer: Any) -> list[int]:
    legal = set(legal_deals(customer).values_list("pk", flat=True))
    return [
        pk for pk in deals_of(customer).values_list("pk", flat=True) if pk not in legal
    ]


UNIT = ("unit__number", gettext_lazy("unit"))
BUILDING = ("unit__building__name", gettext_lazy("building"))


# Deals ------------------------------------------------------------------------------


def _deals(customer: Any) -> list[dict]:
    return rows(
        deals_of(customer).order_by("created_at", "pk"),
        [
            ("id", gettext_lazy("deal")),
            ("project__name", gettext_lazy("project")),
            BUILDING,
            UNIT,
            "consultant",
            "stage",
            "agreed_price",
            "discount_percent",
            "lost_reason",
            "lost_note",
            ("campaign__name", gettext_lazy("campaign")),
            "created_at",
            "buyer_name",
        ],
    )


def _anonymise_deals(customer: Any, *, erasure: Erasure) -> int:
    contracts = legal_deals(customer).exclude(buyer_name=erasure.name)
    changed = erasure.update(contracts, filled=True, buyer_name=erasure.name)
    others = _other_deal_ids(customer)
    noted = Opportunity.objects.filter(pk__in=others).exclude(lost_note="")
    changed += erasure.update(noted, lost_note="")
    # The history's words: each row cleared gets its audit entry, as a deal does.
    changed += erasure.update(
        StageChange.objects.filter(opportunity_id__in=others).exclude(note=""),
        note="",
    )
    for model in (DiscountRequest, DealChange):
        changed += erasure.update(
            model.objects.filter(opportunity_id__in=others).filter(
                ~Q(reason="") | ~Q(decision_note="")
            ),
            reason="",
            decision_note="",
        )
    return changed


def _kept_deals(customer: Any) -> dict[str, int]:
    return {
        "contracts": legal_deals(customer).count(),
        "others": len(_other_deal_ids(customer)),
    }


def _deal_blockers(customer: Any) -> list[str]:
    open_deals = deals_of(customer).filter(stage__in=BEFORE_CONTRACT).count()
    if not open_deals:
        return []
    return [
        ngettext(
            "%(count)s deal is open and not contracted yet: sign it or close it as "
            "lost first.",
            "%(count)s deals are open and not contracted yet: sign them or close "
            "them as lost first.",
            open_deals,
        )
        % {"count": open_deals}
    ]


def _stage_changes(customer: Any) -> list[dict]:
    changes = StageChange.objects.filter(opportunity__customer=customer).order_by(
        "changed_at", "pk"
    )
    label = _("note")
    result = rows(
        changes,
        [
            ("opportunity", _("deal")),
            ("from_stage", _("from")),
            ("to_stage", _("to")),
            ("changed_by", _("by")),
            ("changed_at", _("when")),
            ("note", label),
        ],
    )
    # The system's reason for a move is an event: the export gives its words.
    texts = changes.values_list("event", "params", "note")
    for row, (event, params, note) in zip(result, texts, strict=True):
        row[label] = events.text_of(event, params, note)
    return result


def _discounts(customer: Any) -> list[dict]:
    return rows(
        DiscountRequest.objects.filter(opportunity__customer=customer).order_by(
            "requested_at", "pk"
        ),
        [
            ("opportunity", _("deal")),
            "percent",
            "reason",
            "status",
            ("requested_by", _("requested by")),
            ("requested_at", _("requested")),
            ("decided_by", _("decided by")),
            "decision_note",
        ],
    )


def _changes_of(customer: Any) -> QuerySet:
    return DealChange.objects.filter(
        Q(opportunity__customer=customer) | Q(new_customer=customer)
    )


def _deal_changes(customer: Any) -> list[dict]:
    return rows(
        _changes_of(customer).order_by("requested_at", "pk"),
        [
            ("opportunity", _("deal")),
            "kind",
            ("new_unit__number", _("new unit")),
            ("new_customer", _("new buyer")),
            "reason",
            "status",
            ("requested_at", _("requested")),
            "decision_note",
        ],
    )


# Money and holds --------------------------------------------------------------------


def _payments(customer: Any) -> list[dict]:
    return rows(
        PaymentItem.objects.filter(opportunity__customer=customer).order_by(
            "opportunity", "sequence"
        ),
        [
            ("opportunity", _("deal")),
            ("sequence", _("line")),
            "kind",
            "due_date",
            "amount",
            "received",
        ],
    )


def _receipts(customer: Any) -> list[dict]:
    return rows(
        Receipt.objects.filter(item__opportunity__customer=customer).order_by(
            "received_on", "pk"
        ),
        [
            ("item__opportunity", _("deal")),
            ("item__kind", _("payment")),
            "amount",
            "received_on",
            "method",
            "reference",
            ("recorded_by", _("recorded by")),
        ],
    )


def _kept_receipts(customer: Any) -> dict[str, int]:
    return {
        "receipts": Receipt.objects.filter(item__opportunity__customer=customer).count()
    }


def _holds(customer: Any) -> list[dict]:
    return rows(
        UnitHold.objects.filter(opportunity__customer=customer).order_by(
            "held_at", "pk"
        ),
        [
            ("opportunity", _("deal")),
            BUILDING,
            UNIT,
            ("held_by", _("held by")),
            ("held_at", _("held")),
            "held_until",
            ("status", _("status")),
        ],
    )


# Ownership --------------------------------------------------------------------------


def _registrations(customer: Any) -> list[dict]:
    return rows(
        Registration.objects.filter(customer=customer).order_by("registered_at", "pk"),
        [
            ("project__name", _("project")),
            ("consultant", _("consultant")),
            ("basis", _("basis")),
            ("status", _("status")),
            ("registered_at", _("registered")),
            "protected_until",
        ],
    )


def _ownership(customer: Any) -> list[dict]:
    decisions = OwnershipEvent.objects.filter(customer=customer).order_by("at", "pk")
    label = _("reason")
    result = rows(
        decisions,
        [
            ("project__name", _("project")),
            ("kind", _("event")),
            ("consultant", _("consultant")),
            ("actor", _("by")),
            ("reason", label),
            ("at", _("when")),
        ],
    )
    # The system's reason is an event: the export gives its words.
    texts = decisions.values_list("event", "params", "reason")
    for row, (event, params, reason) in zip(result, texts, strict=True):
        row[label] = events.text_of(event, params, reason)
    return result


def _anonymise_ownership(customer: Any, *, erasure: Erasure) -> int:
    """The customer's name may be in a manager's reason or an event's parameters (a
    merge names the absorbed customer): scrubbed, the decision itself stays."""
    decisions = list(
        OwnershipEvent.objects.filter(customer=customer).filter(
            ~Q(reason="") | ~Q(params={})
        )
    )
    changed = []
    for decision in decisions:
        reason = erasure.scrub(decision.reason)
        params = {
            name: erasure.scrub(value) if isinstance(value, str) else value
            for name, value in decision.params.items()
        }
        if reason != decision.reason or params != decision.params:
            decision.reason, decision.params = reason, params
            changed.append(decision)
    OwnershipEvent.objects.bulk_update(changed, ["reason", "params"])
    return len(changed)


def _kept_ownership(customer: Any) -> dict[str, int]:
    return {
        "ownership": Registration.objects.filter(customer=customer).count()
        + OwnershipEvent.objects.filter(customer=customer).count()
    }


def _escalations(customer: Any) -> list[dict]:
    return rows(
        FollowUpEscalation.objects.filter(customer=customer).order_by("due_date"),
        [
            ("consultant", _("consultant")),
            ("due_date", _("follow-up due")),
            ("escalated_at", _("escalated")),
        ],
    )


def _co_buyers(customer: Any) -> list[dict]:
    return rows(
        CoBuyer.objects.filter(customer=customer).order_by("added_at", "pk"),
        [
            ("opportunity_id", gettext_lazy("deal")),
            ("opportunity__project__name", gettext_lazy("project")),
            ("opportunity__unit__number", gettext_lazy("unit")),
            ("opportunity__customer__name", gettext_lazy("buyer")),
            ("added_at", gettext_lazy("named on")),
        ],
    )


def co_buyer_relatives(customer_ids: Iterable[int]) -> set[int]:
    """The buyers and co-buyers of every deal these customers are buyer or co-buyer
    of, whatever its stage: a co-buyer is named from a deal's first stage
    (sales.services.co_buyers) and a lost deal keeps them, with the notes about them.
    The customers' timelines are scrubbed of the person's numbers (customers'
    timeline section). One statement; the given customers may be among them."""
    ids = list(customer_ids)
    named_on = CoBuyer.objects.filter(customer_id__in=ids).values("opportunity_id")
    their_co_buyers = CoBuyer.objects.filter(
        opportunity__customer_id__in=ids
    ).values_list("customer_id", flat=True)
    buyers = Opportunity.objects.filter(pk__in=named_on).values_list(
        "customer_id", flat=True
    )
    fellow_co_buyers = CoBuyer.objects.filter(opportunity_id__in=named_on).values_list(
        "customer_id", flat=True
    )
    return set(their_co_buyers.union(buyers, fellow_co_buyers))


# Opening day: deposits of intent and selections (issue 16) -------------------------


def _deposits(customer: Any) -> list[dict]:
    return rows(
        IntentDeposit.objects.filter(customer=customer).order_by("created_at", "pk"),
        [
            ("project__name", gettext_lazy("project")),
            "queue_number",
            "amount",
            "receipt_number",
            "method",
            "paid_on",
            "qualification",
            "qualification_note",
            "status",
            ("consultant", gettext_lazy("consultant")),
            ("created_at", gettext_lazy("taken")),
        ],
    )


def _deposit_refunds(customer: Any) -> list[dict]:
    return rows(
        DepositRefund.objects.filter(deposit__customer=customer).order_by(
            "requested_at", "pk"
        ),
        [
            ("deposit__queue_number", gettext_lazy("queue number")),
            "amount",
            "reason",
            ("status", gettext_lazy("status")),
            ("requested_by", gettext_lazy("requested by")),
            ("requested_at", gettext_lazy("requested")),
            ("decided_by", gettext_lazy("decided by")),
            "decision_note",
        ],
    )


def _anonymise_deposits(customer: Any, *, erasure: Erasure) -> int:
    """The deposits are money received and stay; a refund's reason may name the
    buyer: scrubbed."""
    refunds = list(
        DepositRefund.objects.filter(deposit__customer=customer).filter(
            ~Q(reason="") | ~Q(decision_note="")
        )
    )
    changed = []
    for refund in refunds:
        reason, note = erasure.scrub(refund.reason), erasure.scrub(refund.decision_note)
        if (reason, note) != (refund.reason, refund.decision_note):
            refund.reason, refund.decision_note = reason, note
            changed.append(refund)
    DepositRefund.objects.bulk_update(changed, ["reason", "decision_note"])
    return len(changed)


def _deposit_blockers(customer: Any) -> list[str]:
    held = IntentDeposit.objects.filter(
        customer=customer, status=IntentDeposit.Status.ACTIVE
    ).count()
    if not held:
        return []
    return [
        ngettext(
            "%(count)s deposit of intent is still held: refund it or apply it first.",
            "%(count)s deposits of intent are still held: refund them or apply "
            "them first.",
            held,
        )
        % {"count": held}
    ]


def _selections(customer: Any) -> list[dict]:
    return rows(
        Selection.objects.filter(customer=customer).order_by("selected_at", "pk"),
        [
            ("session__name", gettext_lazy("selection session")),
            ("unit__building__name", gettext_lazy("building")),
            ("unit__number", gettext_lazy("unit")),
            ("channel", gettext_lazy("channel")),
            ("selected_by", gettext_lazy("selected by")),
            ("selected_at", gettext_lazy("selected")),
            ("cancelled_at", gettext_lazy("cancelled")),
        ],
    )


def _related(customer: Any) -> dict[str, list[int]]:
    return {
        "sales.opportunity": list(deals_of(customer).values_list("pk", flat=True)),
        "sales.intentdeposit": list(
            IntentDeposit.objects.filter(customer=customer).values_list("pk", flat=True)
        ),
    }


def _count(queryset_of):
    return lambda customer: queryset_of(customer).count()


def connect() -> None:
    register_relatives(co_buyer_relatives)
    register(
        Section(
            key="sales.deals",
            title=gettext_lazy("Deals"),
            order=10,
            count=_count(deals_of),
            export=_deals,
            anonymise=_anonymise_deals,
            retained=_kept_deals,
            reasons={
                "contracts": gettext_lazy(
                    "Subscribed and contracted deals with their unit, price, "
                    "discounts, history and the buyer's name as on the contract: "
                    "legal and accounting records."
                ),
                "others": gettext_lazy(
                    "Other deals keep their project, stage and dates without any "
                    "text: sales statistics."
                ),
            },
            blockers=_deal_blockers,
            related=_related,
            covers=("sales.Opportunity.customer",),
        )
    )
    register(
        Section(
            key="sales.stage_changes",
            title=gettext_lazy("Deal history"),
            order=11,
            count=_count(lambda c: StageChange.objects.filter(opportunity__customer=c)),
            export=_stage_changes,
        )
    )
    register(
        Section(
            key="sales.discounts",
            title=gettext_lazy("Discount requests"),
            order=12,
            count=_count(
                lambda c: DiscountRequest.objects.filter(opportunity__customer=c)
            ),
            export=_discounts,
        )
    )
    register(
        Section(
            key="sales.deal_changes",
            title=gettext_lazy("Deal changes"),
            order=13,
            count=_count(_changes_of),
            export=_deal_changes,
            covers=("sales.DealChange.new_customer",),
        )
    )
    register(
        Section(
            key="sales.payments",
            title=gettext_lazy("Payment plan"),
            order=14,
            count=_count(lambda c: PaymentItem.objects.filter(opportunity__customer=c)),
            export=_payments,
        )
    )
    register(
        Section(
            key="sales.receipts",
            title=gettext_lazy("Receipts"),
            order=15,
            count=_count(
                lambda c: Receipt.objects.filter(item__opportunity__customer=c)
            ),
            export=_receipts,
            retained=_kept_receipts,
            reasons={
                "receipts": gettext_lazy(
                    "Receipts of money received: accounting records."
                )
            },
        )
    )
    register(
        Section(
            key="sales.holds",
            title=gettext_lazy("Unit holds"),
            order=16,
            count=_count(lambda c: UnitHold.objects.filter(opportunity__customer=c)),
            export=_holds,
        )
    )
    register(
        Section(
            key="sales.registrations",
            title=gettext_lazy("Registrations"),
            order=17,
            count=_count(lambda c: Registration.objects.filter(customer=c)),
            export=_registrations,
            covers=("sales.Registration.customer",),
        )
    )
    register(
        Section(
            key="sales.ownership",
            title=gettext_lazy("Ownership history"),
            order=18,
            count=_count(lambda c: OwnershipEvent.objects.filter(customer=c)),
            export=_ownership,
            anonymise=_anonymise_ownership,
            retained=_kept_ownership,
            reasons={
                "ownership": gettext_lazy(
                    "Registrations and ownership decisions (which consultant, when, "
                    "why): they settle commission disputes and hold no personal "
                    "information."
                )
            },
            covers=("sales.OwnershipEvent.customer",),
        )
    )
    register(
        Section(
            key="sales.co_buyers",
            title=gettext_lazy("Co-buyer on deals"),
            order=13,
            count=_count(lambda c: CoBuyer.objects.filter(customer=c)),
            export=_co_buyers,
            retained=lambda c: {
                "co_buyers": CoBuyer.objects.filter(customer=c).count()
            },
            reasons={
                "co_buyers": gettext_lazy(
                    "Being named as a co-buyer on a deal: part of the deal's legal "
                    "record, without any text."
                )
            },
            covers=("sales.CoBuyer.customer",),
        )
    )
    register(
        Section(
            key="sales.escalations",
            title=gettext_lazy("Follow-up escalations"),
            order=19,
            count=_count(lambda c: FollowUpEscalation.objects.filter(customer=c)),
            export=_escalations,
            covers=("sales.FollowUpEscalation.customer",),
        )
    )
    register(
        Section(
            key="sales.deposits",
            title=gettext_lazy("Deposits of intent"),
            order=20,
            count=_count(lambda c: IntentDeposit.objects.filter(customer=c)),
            export=_deposits,
            anonymise=_anonymise_deposits,
            retained=lambda c: {
                "deposits": IntentDeposit.objects.filter(customer=c).count()
            },
            reasons={
                "deposits": gettext_lazy(
                    "Deposits of intent with their amount, receipt and refunds: "
                    "accounting records."
                )
            },
            blockers=_deposit_blockers,
            covers=("sales.IntentDeposit.customer",),
        )
    )
    register(
        Section(
            key="sales.deposit_refunds",
            title=gettext_lazy("Deposit refunds"),
            order=21,
            count=_count(lambda c: DepositRefund.objects.filter(deposit__customer=c)),
            export=_deposit_refunds,
        )
    )
    register(
        Section(
            key="sales.selections",
            title=gettext_lazy("Units chosen at selection sessions"),
            order=22,
            count=_count(lambda c: Selection.objects.filter(customer=c)),
            export=_selections,
            retained=lambda c: {
                "selections": Selection.objects.filter(customer=c).count()
            },
            reasons={
                "selections": gettext_lazy(
                    "A unit chosen at a selection session is part of the "
                    "subscription's legal record, without any text."
                )
            },
            covers=("sales.Selection.customer",),
        )
    )
