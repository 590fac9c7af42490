"""The roles people hold in the CRM, as Django groups with permissions.

Views check permissions, never role names, so an administrator can fine-tune a group
in the admin; this module is the default mapping and keeps the groups in sync after
every migrate. A permission either lets a role see (SEE_PERMISSIONS) or act (every
other one); views declare which they need (crm_site.permissions), and the README's
role table is rendered from this matrix (role_table).
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
_SALES_DESK = ["sales.view_sales_desk"]
_SALES_MANAGEMENT = [*_SALES_DESK, "sales.view_sales_management"]
_SERVICE_DESK = ["service.view_service_desk", "service.view_service_request"]
# Every role that takes calls records a caller's request (首问负责制: whoever receives
# it, records it) and then sees what it recorded, without the whole service desk.
_TAKES_CALLS = ["service.view_service_request", "service.record_service_request"]
_SERVICE_MANAGEMENT = [*_SERVICE_DESK, "service.view_service_management"]
# The general manager's mailbox (总经理信箱): owners' letters, seen and answered by the
# executive and the service manager.
_GM_MAILBOX = ["service.view_gm_mailbox", "service.answer_gm_letter"]
# The explorer (多维分析) and its reports by e-mail (crm_site.explorer, crm_site.reports):
# each source it offers still needs that source's own see permission.
_EXPLORER = ["crm_site.use_explorer"]
# Customer value (customers.value): the top customers list, the value figures on the
# customer page and the value source of the explorer. Managers and marketing.
_VALUE = ["customers.view_customer_value"]

ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.CONSULTANT: [
        *_CUSTOMER_BASE,
        *_SALES_DESK,
        "customers.add_customer",
        "customers.change_customer",
        "customers.scope_own",
        "customers.reveal_contact",
        "sales.use_sales",
        "marketing.add_referral",
        *_TAKES_CALLS,
    ],
    Role.SALES_MANAGER: [
        *_CUSTOMER_BASE,
        *_EXPLORER,
        *_VALUE,
        *_SALES_MANAGEMENT,
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
        "marketing.view_pointentry",
        *_TAKES_CALLS,
    ],
    Role.SERVICE_AGENT: [
        *_CUSTOMER_BASE,
        *_SERVICE_DESK,
        "customers.change_customer",
        "customers.scope_service",
        "customers.view_contact",
        "service.use_service",
        "service.record_service_request",
        "marketing.view_pointentry",
    ],
    Role.SERVICE_MANAGER: [
        *_CUSTOMER_BASE,
        *_EXPLORER,
        *_VALUE,
        *_SERVICE_MANAGEMENT,
        "customers.change_customer",
        "customers.scope_service",
        "customers.view_contact",
        "customers.merge_customer",
        "service.use_service",
        "service.manage_service",
        "service.record_service_request",
        *_GM_MAILBOX,
        # Owners' notices and surveys whose sending was interrupted (crm_site.outbox).
        "crm_site.review_outbox",
        "marketing.view_pointentry",
    ],
    # Marketing works on the customers who agreed to hear from us, and no others. It
    # changes only marketing's own records: campaigns, segments, events and their
    # guests, referral rules and rewards, channel partners and their commissions. It
    # neither imports customers nor records referrals (both create and change
    # customers, which is the desks' work).
    Role.MARKETING: [
        *_CUSTOMER_BASE,
        *_EXPLORER,
        *_VALUE,
        "customers.scope_consented",
        "customers.export_customer",
        "marketing.use_marketing",
        "marketing.run_campaigns",
        "marketing.view_referral",
        "marketing.pay_reward",
        "marketing.add_channelpartner",
        "marketing.change_channelpartner",
        "marketing.view_channelpartner",
        "marketing.view_commission",
        "marketing.change_referralrule",
        "marketing.view_pointentry",
        "marketing.correct_points",
    ],
    # The executive reads everything and changes nothing but what EXECUTIVE_OWN_ACTIONS
    # lists: answering the owners' letters to the general manager.
    Role.EXECUTIVE: [
        *_CUSTOMER_BASE,
        *_EXPLORER,
        *_VALUE,
        *_SALES_MANAGEMENT,
        *_SERVICE_MANAGEMENT,
        *_GM_MAILBOX,
        "customers.scope_all",
        "marketing.use_marketing",
        "marketing.view_referral",
        "marketing.view_channelpartner",
        "marketing.view_commission",
        "marketing.view_pointentry",
    ],
    Role.ADMINISTRATOR: [
        *_CUSTOMER_BASE,
        *_EXPLORER,
        *_VALUE,
        *_SALES_MANAGEMENT,
        *_SERVICE_MANAGEMENT,
        "customers.add_customer",
        "customers.change_customer",
        "customers.delete_customer",
        "customers.scope_all",
        "customers.view_contact",
        "customers.assign_customer",
        "customers.export_customer",
        "customers.import_customer",
        "customers.merge_customer",
        "customers.handle_personal_data",
        "sales.use_sales",
        "sales.manage_sales",
        "sales.manage_inventory",
        "service.use_service",
        "service.manage_service",
        "service.record_service_request",
        *_GM_MAILBOX,
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
        "crm_site.review_outbox",
        # Webhook subscriptions and their delivery log (crm_site.webhooks).
        "crm_site.view_webhooksubscription",
        "crm_site.add_webhooksubscription",
        "crm_site.change_webhooksubscription",
        "crm_site.delete_webhooksubscription",
        "crm_site.view_webhookdelivery",
        "crm_site.replay_webhookdelivery",
        # The overview's targets per figure and month (crm_site.overview).
        "crm_site.view_target",
        "crm_site.add_target",
        "crm_site.change_target",
        "crm_site.delete_target",
        "customers.view_valuetier",
        "customers.add_valuetier",
        "customers.change_valuetier",
        "customers.delete_valuetier",
        # Integration keys of the REST API: create, rotate, revoke (crm_site.api).
        "crm_site.view_apikey",
        "crm_site.add_apikey",
        "crm_site.change_apikey",
        # Log-in lock-outs: see the failed attempts and unlock (crm_site/lockout.py).
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
        "axes.view_accessfailurelog",
        "axes.view_accesslog",
        "auth.view_group",
        "auth.change_group",
        "sales.view_project",
        "sales.change_project",
        "service.view_deadlinerule",
        "service.add_deadlinerule",
        "service.change_deadlinerule",
        "service.delete_deadlinerule",
        "service.view_mailboxsettings",
        "service.add_mailboxsettings",
        "service.change_mailboxsettings",
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
        "marketing.view_pointentry",
        "marketing.correct_points",
        # The member club's levels and point rules, set in the admin.
        "marketing.view_clublevel",
        "marketing.add_clublevel",
        "marketing.change_clublevel",
        "marketing.delete_clublevel",
        "marketing.view_pointrule",
        "marketing.add_pointrule",
        "marketing.change_pointrule",
        "marketing.delete_pointrule",
    ],
    # Brokers of channel partners: their own portal, no customer list, nothing else.
    Role.CHANNEL_PARTNER: ["marketing.partner_portal"],
}

#: Permissions that let a holder see (or narrow what it sees), and change nothing.
#: Every other permission in ROLE_PERMISSIONS is an action.
SEE_PERMISSIONS: frozenset[str] = frozenset(
    {
        "customers.view_customer",
        "customers.scope_all",
        "customers.scope_team",
        "customers.scope_own",
        "customers.scope_service",
        "customers.scope_consented",
        "customers.view_contact",
        # A read: the export writes only its own audit record (who took what).
        "customers.export_customer",
        "sales.view_sales_desk",
        "sales.view_sales_management",
        "service.view_service_desk",
        "service.view_service_management",
        "service.view_service_request",
        "service.view_gm_mailbox",
        "marketing.use_marketing",
        "customers.view_customer_value",
        "marketing.view_referral",
        "marketing.view_channelpartner",
        "marketing.view_commission",
        "marketing.view_pointentry",
        "marketing.view_clublevel",
        "marketing.view_pointrule",
        "crm_site.view_user",
        "crm_site.view_team",
        "crm_site.view_auditentry",
        "crm_site.view_heartbeat",
        "crm_site.view_target",
        "customers.view_valuetier",
        "crm_site.use_explorer",
        "auth.view_group",
        "service.view_surveytemplate",
        "service.view_surveyquestion",
        "sales.view_project",
        "service.view_deadlinerule",
        "service.view_mailboxsettings",
        "axes.view_accessattempt",
        "axes.view_accessfailurelog",
        "axes.view_accesslog",
    }
)

#: Roles that change no record: they hold see permissions only, but for the actions
#: READ_ONLY_OWN_ACTIONS gives them (each its own permission, each changing only its
#: own kind of record).
READ_ONLY_ROLES: frozenset[Role] = frozenset({Role.EXECUTIVE})

#: The executive answers the owners' letters to the general manager (issue 14) and
#: changes nothing else.
EXECUTIVE_OWN_ACTIONS: frozenset[str] = frozenset({"service.answer_gm_letter"})
READ_ONLY_OWN_ACTIONS: dict[Role, frozenset[str]] = {
    Role.EXECUTIVE: EXECUTIVE_OWN_ACTIONS
}

#: The actions of the marketing role: each changes only marketing's own records.
MARKETING_OWN_ACTIONS: frozenset[str] = frozenset(
    {
        "marketing.run_campaigns",
        "marketing.pay_reward",
        "marketing.add_channelpartner",
        "marketing.change_channelpartner",
        "marketing.change_referralrule",
        "marketing.correct_points",
    }
)


#: What each permission means to a reader, for the README's role table (rendered by
#: tests/security/test_role_table.py, which fails when the table and this disagree).
#: Permissions sharing a phrase are listed once; None: implied by another phrase.
PERMISSION_SUMMARY: dict[str, str | None] = {
    "customers.view_customer": None,
    "customers.scope_all": "every customer",
    "customers.scope_team": "the customers of their team and the pool",
    "customers.scope_own": "their own customers and the public pool",
    "customers.scope_service": "buyers and owners",
    "customers.scope_consented": "customers who consented to marketing",
    "customers.view_contact": "full phone numbers",
    "customers.export_customer": "exports of the customer list (each recorded)",
    "sales.view_sales_desk": (
        "the sales desk (grid, units, deals in scope, pool, overdue payments, printouts)"
    ),
    "sales.view_sales_management": (
        "sales approvals, the sales dashboard and the protection rules"
    ),
    "service.view_service_desk": (
        "the service desk (requests, work orders, contractors, knowledge base, "
        "handovers)"
    ),
    "service.view_service_management": (
        "the service dashboard and the satisfaction results"
    ),
    # Implied: the whole desk, or what they recorded (the action below says so).
    "service.view_service_request": None,
    "service.view_gm_mailbox": "the owners' letters to the general manager",
    "marketing.use_marketing": "marketing (campaigns, segments, guests, dashboard)",
    "marketing.view_referral": "referrals and rewards",
    "marketing.view_channelpartner": "channel partners",
    "marketing.view_commission": "partner commissions",
    "marketing.view_pointentry": "the member club (members, levels, points ledgers)",
    "customers.add_customer": "register customers",
    "customers.change_customer": "edit customers in scope and log on their timeline",
    "customers.reveal_contact": "show a masked number (logged, rate-limited)",
    "customers.assign_customer": "assign customers",
    "customers.import_customer": "import customers",
    "customers.merge_customer": "merge duplicates",
    "customers.delete_customer": "delete customers",
    "sales.use_sales": (
        "work deals (reserve, release, subscribe, contract, payments, discounts, "
        "changes) and claim from the pool"
    ),
    "sales.manage_sales": (
        "decide approvals, reassign registrations, set protection rules"
    ),
    "sales.manage_inventory": "create buildings, import units, reprice",
    "service.use_service": (
        "work requests and work orders, inspect handovers, write the knowledge base"
    ),
    "service.manage_service": (
        "run handover batches, manage contractors and chargebacks"
    ),
    "service.record_service_request": (
        "record a service request from any caller, as its first receiver, and follow it"
    ),
    "service.answer_gm_letter": "answer owners' letters to the general manager",
    "marketing.run_campaigns": "plan, send and run campaigns, segments and check-ins",
    "marketing.attribute_deal": "credit a deal to a campaign",
    "marketing.add_referral": "record referrals",
    "marketing.approve_reward": "approve referral rewards",
    "marketing.pay_reward": "mark rewards and commissions paid",
    "marketing.add_channelpartner": "add and edit channel partners and their brokers",
    "marketing.change_channelpartner": (
        "add and edit channel partners and their brokers"
    ),
    "marketing.change_referralrule": "set referral rewards",
    "marketing.correct_points": "correct a member's points (a new entry, audited)",
    "marketing.add_clublevel": "set the member club's levels and point rules (admin)",
    "marketing.change_clublevel": None,
    "marketing.delete_clublevel": None,
    "marketing.add_pointrule": None,
    "marketing.change_pointrule": None,
    "marketing.delete_pointrule": None,
    "marketing.view_clublevel": None,
    "marketing.view_pointrule": None,
    "marketing.partner_portal": (
        "the partner portal only: register customers for their partner, see its "
        "registrations and commissions"
    ),
    "customers.view_customer_value": (
        "customer value: the top customers list and each customer's value figures"
    ),
    "crm_site.use_explorer": (
        "the explorer (多维分析) over what they may see, and their own saved views "
        "and reports by e-mail"
    ),
    "crm_site.use_admin": "the Django admin (users, teams, groups, survey templates)",
    "crm_site.add_user": None,
    "crm_site.change_user": None,
    "crm_site.add_team": None,
    "crm_site.change_team": None,
    "auth.change_group": None,
    "service.add_surveytemplate": None,
    "service.change_surveytemplate": None,
    "service.add_surveyquestion": None,
    "service.change_surveyquestion": None,
    "service.delete_surveyquestion": None,
    "crm_site.view_user": "the admin's users, teams, groups, audit trail, heartbeats",
    "crm_site.view_team": None,
    "crm_site.view_auditentry": None,
    "crm_site.view_heartbeat": None,
    "auth.view_group": None,
    "service.view_surveytemplate": None,
    "service.view_surveyquestion": None,
    "sales.view_project": None,
    "service.view_deadlinerule": None,
    "axes.view_accessattempt": None,
    "axes.view_accessfailurelog": None,
    "axes.view_accesslog": None,
    "crm_site.review_outbox": (
        "decide on messages whose sending was interrupted (send again or mark sent)"
    ),
    "customers.handle_personal_data": (
        "export or anonymise a customer's personal information (PIPL requests)"
    ),
    "axes.delete_accessattempt": "unlock log-ins locked after failed passwords",
    "sales.change_project": "set a project's sales teams and settings (admin)",
    "service.add_deadlinerule": "set the service deadline rules (admin)",
    "crm_site.add_target": "set the overview's monthly targets (admin)",
    "crm_site.change_target": None,
    "crm_site.delete_target": None,
    "crm_site.view_target": None,
    "customers.add_valuetier": "set the customer value tiers (admin)",
    "customers.change_valuetier": None,
    "customers.delete_valuetier": None,
    "customers.view_valuetier": None,
    "crm_site.view_apikey": None,
    "crm_site.add_apikey": None,
    "crm_site.change_apikey": None,
    "service.change_deadlinerule": None,
    "service.view_mailboxsettings": None,
    "service.add_mailboxsettings": "set the GM mailbox's deadline (admin)",
    "service.change_mailboxsettings": None,
    "service.delete_deadlinerule": None,
    # Webhooks are managed in the admin (crm_site.webhooks): covered by its phrase.
    "crm_site.change_webhooksubscription": None,
    "crm_site.view_webhooksubscription": None,
    "crm_site.add_webhooksubscription": None,
    "crm_site.delete_webhooksubscription": None,
    "crm_site.view_webhookdelivery": None,
    "crm_site.replay_webhookdelivery": None,
}


def role_table() -> list[str]:
    """The README's role table, one Markdown line each, from the declared matrix."""

    def phrases(perms: list[str]) -> str:
        seen: list[str] = []
        order = list(PERMISSION_SUMMARY)
        for perm in sorted(perms, key=order.index):
            phrase = PERMISSION_SUMMARY[perm]
            if phrase and phrase not in seen:
                seen.append(phrase)
        return "; ".join(seen)

    lines = ["| role | may see | may do |", "|---|---|---|"]
    for role in Role:
        perms = ROLE_PERMISSIONS[role]
        see = phrases([p for p in perms if p in SEE_PERMISSIONS])
        do = phrases(actions_of(role)) or "nothing (read only)"
        lines.append(f"| {role.label} (`{role.value}`) | {see or '—'} | {do} |")
    return lines


def actions_of(role: Role) -> list[str]:
    """The action permissions a role holds by default."""
    return [p for p in ROLE_PERMISSIONS[role] if p not in SEE_PERMISSIONS]


def sync_role_groups(**kwargs: object) -> None:
    """Create every role group and give it at least its default permissions.

    Runs after each migrate; permissions an administrator added by hand are kept.
    Defaults taken back by a release are removed once, by a data migration
    (revoke_defaults), so an administrator may still give them back by hand.
    """
    from django.apps import apps
    from django.contrib.auth.models import Group, Permission

    # post_migrate is sent once per app (and after every flush of a transactional
    # test); the groups need every app's permissions, which all exist once the last
    # app's signal is handled. Called directly (no app_config), it always runs.
    app_config = kwargs.get("app_config")
    if app_config is not None:
        with_models = [a for a in apps.get_app_configs() if a.models_module is not None]
        if app_config is not with_models[-1]:
            return
    known = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    for role, perm_names in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role.value)
        group.permissions.add(*[known[name] for name in perm_names if name in known])


def revoke_defaults(
    group_model: type, permission_model: type, revoked: dict[str, list[str]]
) -> int:
    """Take revoked defaults away from existing role groups; returns how many.

    ``revoked`` maps a group name to "app_label.codename" names. Only those are
    removed: whatever an administrator added that was never a default stays."""
    removed = 0
    for group_name, names in revoked.items():
        group = group_model.objects.filter(name=group_name).first()
        if group is None:
            continue
        for name in names:
            app_label, codename = name.split(".", 1)
            perms = permission_model.objects.filter(
                content_type__app_label=app_label, codename=codename
            )
            for perm in perms:
                if group.permissions.filter(pk=perm.pk).exists():
                    group.permissions.remove(perm)
                    removed += 1
    return removed


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
