from decimal import Decimal

from django.db import migrations
from django.db.models import OuterRef, Subquery, Sum

ZERO = Decimal("0")
LIVE = ("subscribed", "contracted", "paid")


def backfill(apps, schema_editor):
    """Before 0039 a change's forfeit was recorded only on its refund, when it owed
    money back; a change of unit to a dearer or equal unit recorded it nowhere, and
    every later change counted earlier forfeits as the buyer's money again (given
    back, or counted against the next price). So:

    - a change with a refund takes its forfeit from it;
    - a live deal keeps what its plan still adds on top of the price and of the
      refunds: the forfeit of its latest change of unit (the only one the plan
      kept), recorded on that change when no refund did.

    Running it twice gives the same rows."""
    DealChange = apps.get_model("sales", "DealChange")
    DealRefund = apps.get_model("sales", "DealRefund")
    Opportunity = apps.get_model("sales", "Opportunity")
    PaymentItem = apps.get_model("sales", "PaymentItem")
    DealChange.objects.filter(refund__isnull=False).update(
        forfeit=Subquery(
            DealRefund.objects.filter(change=OuterRef("pk")).values("forfeit")[:1]
        )
    )
    deals = (
        Opportunity.objects.filter(
            stage__in=LIVE,
            agreed_price__isnull=False,
            changes__kind="change_unit",
            changes__status="approved",
        )
        .distinct()
        .order_by("pk")
    )
    for deal in deals.iterator():
        lines = PaymentItem.objects.filter(opportunity_id=deal.pk).aggregate(
            due=Sum("amount"), got=Sum("received")
        )
        if lines["due"] is None:
            continue
        refunded = (
            DealRefund.objects.filter(opportunity_id=deal.pk).aggregate(
                s=Sum("amount")
            )["s"]
            or ZERO
        )
        # Never more than the buyer's money the lines count.
        kept = min(lines["due"] - deal.agreed_price, lines["got"]) - refunded
        if kept <= 0:
            continue
        latest = (
            DealChange.objects.filter(
                opportunity_id=deal.pk, kind="change_unit", status="approved"
            )
            .order_by("-decided_at", "-pk")
            .first()
        )
        if latest.forfeit == 0:
            DealChange.objects.filter(pk=latest.pk).update(forfeit=kept)
        Opportunity.objects.filter(pk=deal.pk).update(forfeited=kept)


class Migration(migrations.Migration):
    """Data: each approved change's forfeit, and what each live deal's changes kept,
    from the refunds and the plans they left (0039)."""

    dependencies = [
        ("sales", "0039_change_forfeits"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
