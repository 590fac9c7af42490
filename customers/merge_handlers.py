"""The customers app's own part of a merge: its rows follow the surviving customer.

Like every app, customers declares with follow_merges what a merge does with each of its
relations to Customer; the merge service knows no app's tables but through the signals
those declarations answer.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from customers.models import ContactPoint, CustomerAccess
from customers.signals import follow_merges, kept, merged, moved


def _contact_points(absorbed, survivor) -> QuerySet:
    # A contact the survivor already has stays on the absorbed record (unique per
    # customer); nothing is lost, and a restore finds it where it was.
    twins = ContactPoint.objects.filter(
        customer=survivor, kind=OuterRef("kind"), value=OuterRef("value")
    )
    return ContactPoint.objects.filter(customer=absorbed).exclude(
        Exists(twins) | Q(kind__in=ContactPoint.PHONE_KINDS, value=survivor.mobile)
    )


def _access(absorbed, survivor) -> QuerySet:
    already = CustomerAccess.objects.filter(customer=survivor, user=OuterRef("user"))
    return CustomerAccess.objects.filter(customer=absorbed).exclude(Exists(already))


def connect() -> None:
    """Called from CustomersConfig.ready(); declaring again replaces the declarations."""
    follow_merges(
        "customers",
        [
            moved("customers.interaction.customer"),
            moved("customers.consentrecord.customer"),
            kept(
                "customers.importchange.customer",
                reason="An import's change is of the record it wrote: its values "
                "before are the absorbed record's, and a revert must never write them "
                "onto the survivor (a merged record is no one's to edit: the revert "
                "counts it and leaves it).",
            ),
            # The screen pop's calls: the caller is the surviving customer now.
            moved("customers.call.customer"),
            merged(
                "customers.contactpoint.customer",
                rule="A contact point moves unless the survivor already has the same "
                "one (unique per customer); the twin stays on the absorbed record.",
                rows=_contact_points,
            ),
            merged(
                "customers.customeraccess.customer",
                rule="One row per customer and user: a user who already has access to "
                "the survivor keeps that row, the absorbed's twin stays where it was. "
                "Sales then brings registration access in line with protection.",
                rows=_access,
            ),
            merged(
                "customers.customer.tags",
                rule="The survivor gets both customers' tags (customer_merge); undo "
                "sets each customer's tags back from the merge record.",
            ),
            kept(
                "customers.customer.merged_into",
                reason="The merge's own link from the absorbed record to the survivor; "
                "undo clears it.",
            ),
            kept(
                "customers.personaldatarequest.customer",
                reason="The log of a personal-information request names the record "
                "it was made about; a merge does not change what was exported or "
                "erased then.",
            ),
            kept(
                "customers.mergerecord.survivor",
                reason="The merge record itself: it must name the two customers.",
            ),
            kept(
                "customers.mergerecord.absorbed",
                reason="The merge record itself: it must name the two customers.",
            ),
            kept(
                "customers.duplicatepair.first",
                reason="A decision about these two records; the merge marks the "
                "absorbed's open pairs merged and undo reopens them.",
            ),
            kept(
                "customers.portalcode.customer",
                reason="A sign-in code is for the number it was sent to and lives "
                "five minutes; the absorbed record can no longer sign in, so its "
                "codes are dead either way.",
            ),
            kept(
                "customers.customervalue.customer",
                reason="A derived fact row (customers.value), never moved: the "
                "triggers see the deals, referrals and requests the merge moves, and "
                "the next refresh recomputes the survivor's row and drops the "
                "absorbed's.",
            ),
            kept(
                "customers.duplicatepair.second",
                reason="A decision about these two records; the merge marks the "
                "absorbed's open pairs merged and undo reopens them.",
            ),
        ],
    )
