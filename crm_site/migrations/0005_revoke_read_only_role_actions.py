"""Existing executive and marketing groups lose the action permissions this release
takes back from them (post-migrate sync only ever adds). Runs once, so an
administrator may later give one back by hand; permissions that were never defaults
are not touched."""

from __future__ import annotations

from django.db import migrations

# Frozen here (not imported from crm_site.roles): a migration must not change meaning
# when the live defaults change later.
REVOKED = {
    "executive": [
        "sales.use_sales",
        "sales.manage_sales",
        "service.use_service",
        "service.manage_service",
        "marketing.attribute_deal",
    ],
    "marketing": ["customers.import_customer", "marketing.add_referral"],
}


def revoke(apps, schema_editor) -> None:
    from crm_site.roles import revoke_defaults

    revoke_defaults(
        apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"), REVOKED
    )


class Migration(migrations.Migration):
    dependencies = [
        ("crm_site", "0004_reveal_permission"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(revoke, migrations.RunPython.noop)]
