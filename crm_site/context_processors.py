"""What every page's header needs: the navigation this user may use."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.functional import Promise, SimpleLazyObject
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm_site.notifications import unread_count
from crm_site.reversing import cached_reverse, cached_reverse_all


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url: str
    icon: str
    active: bool


# (label, URL name, icon, the permission that shows it; None: every signed-in user)
NAVIGATION = [
    (_("Home"), "home", "bi-house", None),
    (_("My day"), "sales:my-day", "bi-calendar-check", "customers.scope_own"),
    (_("Customers"), "customers:customer-list", "bi-people", "customers.view_customer"),
    (
        _("Register visit"),
        "customers:register",
        "bi-person-walking",
        "customers.add_customer",
    ),
    # One-stop intake: every role that takes calls records a caller's request.
    (
        pgettext_lazy("navigation", "New request"),
        "service:request-create",
        "bi-telephone-plus",
        "service.record_service_request",
    ),
    (_("Sales"), "sales:home", "bi-building", "sales.view_sales_desk"),
    (_("Service"), "service:home", "bi-tools", "service.view_service_desk"),
    (_("Marketing"), "marketing:home", "bi-megaphone", "marketing.use_marketing"),
    (_("Referrals"), "marketing:referral-list", "bi-gift", "marketing.view_referral"),
    (
        _("Member club"),
        "marketing:club-members",
        "bi-award",
        "marketing.view_pointentry",
    ),
    (
        _("Channel partners"),
        "marketing:partner-list",
        "bi-briefcase",
        "marketing.view_channelpartner",
    ),
    (
        _("Partner portal"),
        "marketing:portal",
        "bi-person-badge",
        "marketing.partner_portal",
    ),
]


# The header's other links (brand, bell, user menu) as header_urls.<key>.
HEADER_URLS = {
    "home": "home",
    "notifications": "notifications",
    "password_change": "password_change",
    "admin_index": "admin:index",
    "health": "health",
    "outbox_parked": "outbox-parked",
    "logout": "logout",
}


def navigation(request: HttpRequest) -> dict:
    if getattr(request, "owner_session", None) is not None:
        # A portal page: the owners' own navigation (portal_navigation), and no look
        # at a staff session the browser may also hold.
        return {}
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "header_urls": {"home": cached_reverse("home")}}
    shown = [
        (label, url_name, icon)
        for label, url_name, icon, perm in NAVIGATION
        if perm is None or user.has_perm(perm)
    ]
    urls = cached_reverse_all(url_name for _l, url_name, _i in shown)
    allowed = [
        (label, url, icon) for (label, _n, icon), url in zip(shown, urls, strict=True)
    ]
    # The item whose URL is the longest prefix of the page is the active one, so
    # /sales/today/ lights "My day" and /sales/deals/ lights "Sales".
    matches = [
        url for _l, url, _i in allowed if url != "/" and request.path.startswith(url)
    ]
    current = (
        max(matches, key=len) if matches else ("/" if request.path == "/" else None)
    )
    items = [NavItem(label, url, icon, url == current) for label, url, icon in allowed]
    return {
        "nav_items": items,
        # What the items show besides their labels (the language's): the header is
        # rendered once per process for it (base.html, {% memo %}).
        "nav_key": tuple((item.url, item.active) for item in items),
        "header_urls": dict(
            zip(HEADER_URLS, cached_reverse_all(HEADER_URLS.values()), strict=True)
        ),
        "can_use_admin": user.has_perm("crm_site.use_admin"),
        # Counted only when a page shows the bell (htmx fragments do not), cached per
        # user (crm_site.notifications.unread_count).
        "unread_notifications": SimpleLazyObject(lambda: unread_count(user)),
    }


def portal_navigation(request: HttpRequest) -> dict:
    """The owners' portal's navigation, from the sections the apps registered."""
    owner = getattr(request, "owner", None)
    if owner is None:
        return {}
    from crm_site import portal

    ctx = portal.OwnerContext(owner=owner, household_ids=request.household_ids)
    sections = portal.sections_for(ctx)
    # The section whose URL is the longest prefix of the page is the current one.
    matches = [s.url for s in sections if request.path.startswith(s.url)]
    current = max(matches, key=len) if matches else None
    return {
        "portal_owner": owner,
        "portal_sections": [
            {"section": s, "url": s.url, "active": s.url == current} for s in sections
        ],
    }
