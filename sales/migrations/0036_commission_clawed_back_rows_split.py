from django.db import migrations


def split(apps, schema_editor):
    """Before 0035 a cancellation set every commission of the deal to clawed_back,
    paid or not. Now an unpaid one is voided, and a paid one stays paid with a
    payable clawback line of the negative amount for the next settlement."""
    Commission = apps.get_model("sales", "Commission")
    rows = Commission.objects.filter(kind="sale", status="clawed_back")
    rows.filter(paid_at__isnull=True).update(status="voided")
    for row in rows.filter(paid_at__isnull=False).order_by("pk"):
        Commission.objects.get_or_create(
            opportunity_id=row.opportunity_id,
            consultant_id=row.consultant_id,
            kind="clawback",
            defaults={
                "project_id": row.project_id,
                "basis": row.basis,
                "rate": row.rate,
                "price": row.price,
                "amount": -row.amount,
                "status": "payable",
                "accrued_at": row.clawed_back_at or row.paid_at,
            },
        )
        row.status = "paid"
        row.save(update_fields=["status"])


def join(apps, schema_editor):
    Commission = apps.get_model("sales", "Commission")
    Commission.objects.filter(kind="clawback").delete()
    Commission.objects.filter(kind="sale", clawed_back_at__isnull=False).update(
        status="clawed_back"
    )


class Migration(migrations.Migration):
    """Data: commission clawed back before the split into voided rows and clawback
    lines (0035) is split the same way."""

    dependencies = [
        ("sales", "0035_commission_clawback_lines"),
    ]

    operations = [migrations.RunPython(split, join)]
