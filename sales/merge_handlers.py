"""Sales' part of a customer merge: deals, registrations (protection), ownership history
and follow-up escalations follow the surviving customer, and go back on undo. Declared
with the customers app's follow_merges, handled in sales' own code.

A merge that would give one buyer what sales allows a buyer once (an open deal per
project, the project's number of valid deposits) is refused, naming what to close or
refund first: which deal or deposit gives way is a sales decision, not the merge's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import OperationalError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from customers.models import Customer, MergeRecord
from customers.services.merge import MergeRefused
from customers.signals import follow_merges, merged, moved
from sales.models import (
    CoBuyer,
    FollowUpEscalation,
    IntentDeposit,
    Opportunity,
    Project,
)
from sales.services.ownership_merge import (
    registrations_merge,
    registrations_merge_restore,
)

CO_BUYERS_KEY = "sales.cobuyer"


def _deposits(absorbed: Customer, survivor: Customer) -> QuerySet:
    """The absorbed's deposits, all of them; refused while the two records together
    hold more valid deposits at a project than it allows a buyer (two queue numbers,
    two chances in the lottery, for one person)."""
    pair = [survivor.pk, absorbed.pk]
    active = IntentDeposit.objects.filter(
        customer_id__in=pair, status=IntentDeposit.Status.ACTIVE
    )
    projects = sorted(set(active.values_list("project_id", flat=True)))
    # Locked as deposit_take locks them: no deposit is taken while the merge counts.
    # NOWAIT: a deposit being taken holds its project and then wants the customer the
    # merge already holds; waiting would deadlock, so the merge is refused instead.
    limits = dict(
        _locked_or_refused(
            Project.objects.filter(pk__in=projects).values_list(
                "pk", "deposits_per_buyer"
            ),
            _(
                "A deposit of intent is being taken for one of these records right "
                "now; try the merge again in a moment."
            ),
        )
    )
    held: dict[int, list[IntentDeposit]] = {}
    for deposit in active.select_related("project").order_by("queue_number", "pk"):
        held.setdefault(deposit.project_id, []).append(deposit)
    for project_id, deposits in held.items():
        limit = limits[project_id]
        both = {d.customer_id for d in deposits} == set(pair)
        if both and len(deposits) > limit:
            # The buyer keeps the earliest places in the queue.
            refund = ", ".join(
                _("queue number %(queue)s (receipt %(receipt)s)")
                % {"queue": d.queue_number, "receipt": d.receipt_number}
                for d in deposits[limit:]
            )
            raise MergeRefused(
                _(
                    "Both records hold valid deposits at %(project)s, more than the "
                    "%(limit)s a buyer may hold there; refund %(deposits)s first."
                )
                % {
                    "project": deposits[0].project.name,
                    "limit": limit,
                    "deposits": refund,
                }
            )
    return IntentDeposit.objects.filter(customer=absorbed)


def _locked_or_refused(rows: QuerySet, refusal: str) -> list:
    """``rows`` locked FOR NO KEY UPDATE in pk order, without waiting: the merge
    already holds both customers, and a sale path holding these rows wants a customer
    next, so waiting would deadlock; the merge is refused with ``refusal`` instead."""
    try:
        with transaction.atomic():
            return list(rows.select_for_update(no_key=True, nowait=True).order_by("pk"))
    except OperationalError as exc:
        raise MergeRefused(refusal) from exc


def _deals(absorbed: Customer, survivor: Customer) -> QuerySet:
    """The absorbed's deals, all of them; refused while both records have an open
    deal at one project (one open deal per customer and project): a deal may hold a
    unit, a deposit or money, so which one ends is for sales to decide. Two signed
    contracts are two homes bought, with nothing left to close: they both move."""
    # The absorbed's deals are locked before they move, in pk order. NOWAIT: a deal
    # being subscribed or cancelled holds the deal and its unit and then wants the
    # customer row the merge already holds; waiting would deadlock, so the merge is
    # refused instead.
    _locked_or_refused(
        Opportunity.objects.filter(customer=absorbed).values_list("pk", flat=True),
        _(
            "A deal of one of these records is being changed right now; try "
            "the merge again in a moment."
        ),
    )
    open_deals = (
        Opportunity.objects.filter(
            customer_id__in=[survivor.pk, absorbed.pk],
            stage__in=Opportunity.OPEN_STAGES,
        )
        .select_related("project", "consultant")
        .order_by("project_id", "pk")
    )
    by_project: dict[int, list[Opportunity]] = {}
    for deal in open_deals:
        by_project.setdefault(deal.project_id, []).append(deal)
    clashes = [
        deals
        for deals in by_project.values()
        if {d.customer_id for d in deals} == {survivor.pk, absorbed.pk}
        and any(d.stage != Opportunity.Stage.CONTRACTED for d in deals)
    ]
    if clashes:
        raise MergeRefused(
            _(
                "Both records have an open deal at the same project; close one of "
                "them first: %(deals)s"
            )
            % {
                "deals": "; ".join(
                    f"{deals[0].project.name}: "
                    + " / ".join(
                        _("deal #%(number)s (%(consultant)s, %(stage)s)")
                        % {
                            "number": d.pk,
                            "consultant": d.consultant.display_name,
                            "stage": d.get_stage_display(),
                        }
                        for d in deals
                    )
                    for deals in clashes
                )
            }
        )
    return Opportunity.objects.filter(customer=absorbed)


def _escalations(absorbed, survivor) -> QuerySet:
    # One escalation per customer and due date: the survivor's stands for both.
    already = FollowUpEscalation.objects.filter(
        customer=survivor, due_date=OuterRef("due_date")
    )
    return FollowUpEscalation.objects.filter(customer=absorbed).exclude(Exists(already))


def _co_buyers_merge(
    *, survivor: Customer, absorbed: Customer, record: MergeRecord
) -> tuple[dict[str, list[int]], dict[str, Any]]:
    """Named once per deal, and never as a co-buyer of their own deal. Runs after the
    deals moved: the absorbed's rows move to the survivor; a row that would name the
    person twice on a deal or on their own deal (either record's) is set aside, kept
    in the merge record and put back on undo. On the deal and its printouts the
    absorbed record still reads as the same person, so no such row stays there."""
    survivor_rows = CoBuyer.objects.filter(customer=survivor)
    doubled = Exists(survivor_rows.filter(opportunity_id=OuterRef("opportunity_id")))
    own = Q(opportunity__customer=survivor)
    moving = list(
        CoBuyer.objects.filter(customer=absorbed)
        .exclude(doubled)
        .exclude(own)
        .values_list("pk", flat=True)
    )
    aside = list(
        CoBuyer.objects.filter(
            Q(customer=absorbed) | Q(customer=survivor, opportunity__customer=survivor)
        )
        .exclude(pk__in=moving)
        .order_by("pk")
        .values("id", "opportunity_id", "customer_id", "added_by_id", "added_at")
    )
    CoBuyer.objects.filter(pk__in=[row["id"] for row in aside]).delete()
    CoBuyer.objects.filter(pk__in=moving).update(customer=survivor)
    state = {
        "set_aside": [{**row, "added_at": row["added_at"].isoformat()} for row in aside]
    }
    return {CO_BUYERS_KEY: moving}, state if aside else {}


def _co_buyers_restore(
    *,
    survivor: Customer,
    absorbed: Customer,
    record: MergeRecord,
    moved: dict[str, list[int]],
    state: dict[str, Any],
    actor=None,
) -> None:
    CoBuyer.objects.filter(pk__in=moved.get(CO_BUYERS_KEY, [])).update(
        customer=absorbed
    )
    # The same rows, as they were (unless the deal named that person again since).
    CoBuyer.objects.bulk_create(
        [
            CoBuyer(
                pk=row["id"],
                opportunity_id=row["opportunity_id"],
                customer_id=row["customer_id"],
                added_by_id=row["added_by_id"],
                added_at=datetime.fromisoformat(row["added_at"]),
            )
            for row in state.get("set_aside", [])
        ],
        ignore_conflicts=True,
    )


def connect() -> None:
    follow_merges(
        "sales",
        [
            # Opening day: the deposit and the units chosen with it are the buyer's.
            # First: a refusal then names the deposit to refund, not its deal.
            merged(
                "sales.intentdeposit.customer",
                rule="Deposits move to the survivor; the merge is refused while the "
                "two records together hold more valid deposits at a project than it "
                "allows a buyer, naming the later ones to refund first.",
                rows=_deposits,
            ),
            moved("sales.selection.customer"),
            merged(
                "sales.opportunity.customer",
                rule="Deals move to the survivor; the merge is refused while both "
                "records have an open deal at one project (one open deal per "
                "customer and project), naming both so one is closed first. Two "
                "signed contracts there are two homes bought, and both move.",
                rows=_deals,
            ),
            moved("sales.dealchange.new_customer"),
            # The history moves before the rule below writes the merge's own entries.
            moved("sales.ownershipevent.customer"),
            merged(
                "sales.registration.customer",
                rule="Registrations move; where both customers are protected at one "
                "project the earlier still-valid protection wins, the other ends, its "
                "consultant is told and both facts go on the ownership history. "
                "Undo revives the ended one with its original dates.",
                merge=registrations_merge,
                restore=registrations_merge_restore,
            ),
            merged(
                "sales.cobuyer.customer",
                rule="Co-buyers move to the survivor, except where the person would "
                "be named twice on a deal or as a co-buyer of their own deal (either "
                "record's row): that row is set aside, kept in the merge record and "
                "put back on undo.",
                merge=_co_buyers_merge,
                restore=_co_buyers_restore,
                key=CO_BUYERS_KEY,
            ),
            merged(
                "sales.followupescalation.customer",
                rule="Escalated once per customer and due date: an escalation the "
                "survivor already has for that date stays on the absorbed record.",
                rows=_escalations,
            ),
        ],
    )
