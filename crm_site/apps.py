from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CrmSiteConfig(AppConfig):
    default = True
    name = "crm_site"
    verbose_name = _("CRM site")

    def ready(self) -> None:
        from crm_site import (  # noqa: F401 (registers)
            auth_backends,
            checks,
            choices,
            fragments,
            lockout,
            lookups,
            notifications,
            personal_data,
        )
        from crm_site.roles import sync_role_groups

        # Permissions exist only after migrate has run, so groups are synced then.
        post_migrate.connect(sync_role_groups, dispatch_uid="crm_site.sync_role_groups")
        auth_backends.connect_signals()
        notifications.connect_signals()
        # The audit trail and notifications about a person, for their requests.
        personal_data.connect()
        # get_FOO_display() with each field's labels mapped once (crm_site.choices).
        choices.install()
        # Team member ids and choice lists of users are cached until a user changes.
        from crm_site.models import User

        fragments.track(User, User.groups.through)
        # Webhooks (crm_site.webhooks): deliveries go out through the one outbox; the
        # cached set of subscribers follows subscriptions and keys.
        from crm_site import outbox
        from crm_site.api.models import ApiKey
        from crm_site.webhooks import admin as webhooks_admin  # noqa: F401
        from crm_site.webhooks import services as webhooks_services  # noqa: F401
        from crm_site.webhooks.delivery import DELIVERIES, PAUSE_NOTICES
        from crm_site.webhooks.models import WebhookSubscription

        outbox.register(DELIVERIES)
        outbox.register(PAUSE_NOTICES)
        # Reports by e-mail (crm_site.reports): a workbook per subscription and period.
        from crm_site.reports import REPORTS

        outbox.register(REPORTS)
        # It follows the rights of the keys' users too (User and its groups are
        # tracked above): a role taken away stops that role's events.
        from django.contrib.auth.models import Group

        fragments.track(
            WebhookSubscription,
            ApiKey,
            User.user_permissions.through,
            Group.permissions.through,
        )


class CrmAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "crm_site.admin_site.CrmAdminSite"
