"""The roles people hold in the CRM, as Django groups with permissions.

Views check permissions, never role names, so an administrator can fine-tune a group
in the admin; this module is the default mapping and keeps the groups in sync after
every migrate.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    CONSULTANT = "sales_consultant", _("Sales consultant")
    SALES_MANAGER = "sales_manager", _("Sales manager")
    SERVICE_AGENT = "service_agent", _("Service agent")
    SERVICE_MANAGER = "service_manager", _("Service manager")
    MARKETING = "marketing", _("Marketing")
    EXECUTIVE = "executive", _("Executive")
    ADMINISTRATOR = "administrator", _("Administrator")
    CHANNEL_PARTNER = "channel_partner", _("Channel partner broker")


_CUSTOMER_BASE = ["customers.view_customer"]

ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.CONSULTANT: [
        *_CUSTOMER_BASE,
        "customers.add_customer",
        "customers.change_customer",
        "customers.scope_own",
        "customers.reveal_contact",
        "sales.use_sales",
        "marketing.add_referral",
    ],
    Role.SALES_MANAGER: [
        *_CUSTOMER_BASE,
        "customers.add_customer",
        "customers.change_customer",
        "customers.scope_team",
        "customers.view_contact",
        "customers.reveal_contact",
        "customers.assign_customer",
        "customers.export_customer",
        "customers.import_customer",
        "customers.merge_customer",
        "sales.use_sales",
        "sales.manage_sales",
        "sales.manage_inventory",
        "marketing.attribute_deal",
        "marketing.add_referral",
        "marketing.view_referral",
        "marketing.approve_reward",
        "marketing.view_channelpartner",
        "marketing.view_commission",
    ],
    Role.SERVICE_AGENT: [
        *_CUSTOMER_BASE,
        "customers.change_customer",
        "customers.scope_service",
        "customers.view_contact",
        "service.use_service",
    ],
    Role.SERVICE_MANAGER: [
        *_CUSTOMER_BASE,
        "customers.change_customer",
        "customers.scope_service",
        "customers.view_contact",
        "customers.merge_customer",
        "service.use_service",
        "service.manage_service",
    ],
    # Marketing works on the customers who agreed to hear from us, and no others.
    Role.MARKETING: [
        *_CUSTOMER_BASE,
        "customers.scope_consented",
        "customers.export_customer",
        "customers.import_customer",
        "marketing.use_marketing",
        "marketing.run_campaigns",
        "marketing.add_referral",
        "marketing.view_referral",
        "marketing.pay_reward",
        "marketing.add_channelpartner",
        "marketing.change_channelpartner",
        "marketing.view_channelpartner",
        "marketing.view_commission",
        "marketing.change_referralrule",
    ],
    Role.EXECUTIVE: [
        *_CUSTOMER_BASE,
        "customers.scope_all",
        "sales.use_sales",
        "sales.manage_sales",
        "service.use_service",
        "service.manage_service",
        "marketing.use_marketing",
        "marketing.attribute_deal",
        "marketing.view_referral",
        "marketing.view_channelpartner",
        "marketing.view_commission",
    ],
    Role.ADMINISTRATOR: [
        *_CUSTOMER_BASE,
        "customers.add_customer",
        "customers.change_customer",
        "customers.delete_customer",
        "customers.scope_all",
        "customers.view_contact",
        "customers.assign_customer",
        "customers.export_customer",
        "customers.import_customer",
        "customers.merge_customer",
        "sales.use_sales",
        "sales.manage_sales",
        "sales.manage_inventory",
        "service.use_service",
        "service.manage_service",
        "marketing.use_marketing",
        "marketing.run_campaigns",
        "marketing.attribute_deal",
        "crm_site.use_admin",
        "crm_site.view_user",
        "crm_site.add_user",
        "crm_site.change_user",
        "crm_site.view_team",
        "crm_site.add_team",
        "crm_site.change_team",
        "crm_site.view_auditentry",
        "crm_site.view_heartbeat",
        # Log-in lock-outs: see the failed attempts and unlock (crm_site/lockout.py).
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
        "axes.view_accessfailurelog",
        "axes.view_accesslog",
        "auth.view_group",
        "auth.change_group",
        "service.view_surveytemplate",
        "service.add_surveytemplate",
        "service.change_surveytemplate",
        "service.view_surveyquestion",
        "service.add_surveyquestion",
        "service.change_surveyquestion",
        "service.delete_surveyquestion",
        "marketing.add_referral",
        "marketing.view_referral",
        "marketing.approve_reward",
        "marketing.pay_reward",
        "marketing.add_channelpartner",
        "marketing.change_channelpartner",
        "marketing.view_channelpartner",
        "marketing.view_commission",
        "marketing.change_referralrule",
    ],
    # Brokers of channel partners: their own portal, no customer list, nothing else.
    Role.CHANNEL_PARTNER: ["marketing.partner_portal"],
}


def sync_role_groups(**kwargs: object) -> None:
    """Create every role group and give it at least its default permissions.

    Runs after each migrate; permissions an administrator added by hand are kept.
    """
    from django.contrib.auth.models import Group, Permission

    for role, perm_names in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role.value)
        wanted = []
        for name in perm_names:
            app_label, codename = name.split(".", 1)
            perm = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is not None:
                wanted.append(perm)
        group.permissions.add(*wanted)


def roles_of(user: object) -> list[Role]:
    """The roles a user holds, in the order of the Role enumeration."""
    if not getattr(user, "is_authenticated", False):
        return []
    cached = getattr(user, "_crm_roles", None)
    if cached is None:
        from crm_site.auth_backends import group_names

        names = group_names(user)
        cached = [role for role in Role if role.value in names]
        user._crm_roles = cached  # type: ignore[attr-defined]
    return cached
