"""Every main page keeps its query budget, whatever the number of rows it shows.

One world (tests/security/world.py) serves the module; each test grows the rows its
pages show (three more customers, deals, requests, notifications...) in a savepoint
rolled back at its end, and asserts that each page's query count stays within its
budget before and does not rise after (tests/helpers.assert_queries_do_not_grow).

PAGE_BUDGETS is the number of queries each page may make with a warm cache (the
session, the permissions and the bell's count come from Redis). Home pages and
dashboards are measured cold (the cache emptied before each request: their figures
are cached), so their aggregates are counted, with the session and permissions read
from the database. A change that adds a query to a page raises its budget here, on
purpose, in review.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from crm_site.notifications import notify
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow
from tests.security.world import World, build_world

PAGE_BUDGETS: dict[str, int] = {
    # Each role's home page, redirects followed (a consultant's is My day), cold
    # (a cold page also reads whether the user has a screen-pop extension).
    "home:consultant": 13,
    "home:sales_manager": 21,
    "home:service_agent": 10,
    # The overview's GM mailbox section (issue 14): its letters per window and now.
    "home:service_manager": 19,
    # + the cancelled campaigns' cost, shown apart from the return (one aggregate).
    "home:marketer": 20,
    # + the GM mailbox section (issue 14).
    "home:executive": 39,
    "home:administrator": 39,
    "home:broker": 9,
    "notifications": 4,
    "customer-list:consultant": 6,
    "customer-list:sales_manager": 8,
    "customer-detail": 15,
    "my-day": 6,
    "deal-list": 5,
    "deal-board": 4,
    # Opening day and after the sale added the deal's deposits of intent and its
    # refunds and commission: one query each, whatever their number.
    "deal-detail": 12,
    "building-grid": 3,
    "pool": 7,
    "request-list": 4,
    "request-detail": 12,
    "campaign-list": 8,
    "campaign-detail": 11,
    # Cold, like the homes: the aggregates themselves, not a cache hit (and, as
    # on every cold page, whether the user has a screen-pop extension).
    "dashboard:sales": 20,
    # + the GM mailbox's figures, one aggregate (issue 14).
    "dashboard:service": 16,
    # + the cancelled campaigns' cost, shown apart from the return (one aggregate).
    "dashboard:marketing": 20,
}


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[World]:
    media = tmp_path_factory.mktemp("media")
    with (
        override_settings(
            MEDIA_ROOT=media,
            SMS_BACKEND="crm_site.messaging.LocMemSmsBackend",
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        ),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        world = build_world()
        _fill(world)
        yield world
        transaction.set_rollback(True)


@pytest.fixture
def w(world: World) -> Iterator[World]:
    """The world, with this test's rows rolled back when it ends."""
    with transaction.atomic():
        yield world
        transaction.set_rollback(True)


def _client(world: World, persona: str) -> Client:
    client = Client(raise_request_exception=True)
    client.force_login(world.user(persona))
    return client


def _page(client: Client, url: str, *, cold: bool = False) -> Callable[[], object]:
    def get() -> object:
        if cold:
            cache.clear()
        # A role's home may be a redirect to its landing page: that page counts too.
        response = client.get(url, follow=True)
        assert response.status_code == 200, (url, response.status_code)
        return response

    return get


def _check(
    budget: str, client: Client, url: str, grow: Callable[[], object], **kwargs
) -> None:
    at_most = PAGE_BUDGETS[budget]
    try:
        assert_queries_do_not_grow(_page(client, url, **kwargs), grow, at_most=at_most)
    except AssertionError as error:
        raise AssertionError(f"{budget} ({url}): {error}") from error


# Growing the rows the pages show --------------------------------------------------


def _fill(w: World) -> None:
    """More than a page of every list: a list of one page is not counted (its total
    is its length), so growing past one page would add its count query once."""
    from sales import services as sales_services

    consultant = w.user("consultant")
    for _ in range(27):
        sales_services.opportunity_open(
            actor=consultant,
            customer=CustomerFactory(assigned_consultant=consultant),
            project=w.obj("project"),
        )
    _more_customers(w, 9)
    CustomerFactory.create_batch(27, assigned_consultant=None)
    _more_requests(w, 27)
    _more_campaigns(w, 27)
    for i in range(27):
        notify(user=consultant, message=f"旧提醒 {i}")


def _more_customers(w: World, n: int = 3) -> None:
    consultant = w.user("consultant")
    today = timezone.localdate()
    for i in range(n):
        CustomerFactory(assigned_consultant=consultant, next_follow_up=today)
        CustomerFactory(
            assigned_consultant=consultant,
            next_follow_up=today - timedelta(days=i + 1),
        )
        CustomerFactory(assigned_consultant=None)


def _more_deals(w: World, n: int = 3) -> None:
    from sales import services as sales_services
    from sales.models import Unit

    consultant = w.user("consultant")
    project = w.obj("project")
    free = Unit.objects.filter(
        building=w.obj("building"), status=Unit.Status.AVAILABLE
    ).order_by("pk")
    for unit in list(free[:n]):
        customer = CustomerFactory(assigned_consultant=consultant)
        deal = sales_services.opportunity_open(
            actor=consultant, customer=customer, project=project
        )
        sales_services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)


def _more_timeline(w: World, n: int = 3) -> None:
    from customers.services import interaction_log

    for i in range(n):
        interaction_log(
            customer=w.obj("customer"),
            kind="call_out",
            channel="phone",
            summary=f"回访 {i}",
            actor=w.user("consultant"),
        )


def _more_deal_rows(w: World, n: int = 3) -> None:
    from sales.models import DiscountRequest

    for _ in range(n):
        DiscountRequest.objects.create(
            opportunity=w.obj("deal"),
            requested_by=w.user("consultant"),
            percent=Decimal("9.50"),
            reason="老客户",
            status=DiscountRequest.Status.REJECTED,
            decided_by=w.user("sales_manager"),
        )
    _more_timeline(w, n)


def _more_requests(w: World, n: int = 3) -> None:
    from service import services as service_services
    from service import services_work

    agent = w.user("service_agent")
    for i in range(n):
        service_services.request_create(
            actor=agent,
            customer=w.obj("owner"),
            unit=w.obj("owner_deal").unit,
            kind="repair",
            category="plumbing",
            severity="normal",
            channel="phone",
            description=f"厨房漏水 {i}",
        )
        services_work.work_order_create(
            actor=w.user("service_manager"),
            request=w.obj("service_request"),
            task=f"检修 {i}",
            assignee_kind="contractor",
            contractor=w.obj("contractor"),
            due_at=timezone.now() + timedelta(days=2),
        )


def _more_campaigns(w: World, n: int = 3) -> None:
    from marketing import services as marketing_services
    from marketing.models import Campaign, CampaignMember, Response

    today = timezone.localdate()
    campaign = w.obj("campaign")
    for i in range(n):
        marketing_services.campaign_create(
            actor=w.user("marketer"),
            name=f"周末暖场 {i}",
            kind=Campaign.Kind.EVENT,
            project=w.obj("project"),
            segment=w.obj("segment"),
            starts_on=today,
            ends_on=today + timedelta(days=3),
            invite_sms=True,
            message="诚邀",
        )
        customer = CustomerFactory(assigned_consultant=w.user("consultant"))
        member = CampaignMember.objects.create(campaign=campaign, customer=customer)
        Response.objects.create(
            campaign=campaign, member=member, customer=customer, kind="signed_up"
        )


def _more_projects(w: World, n: int = 2) -> None:
    from sales.models import Project

    for _ in range(n):
        number = Project.objects.count() + 1
        project = Project.objects.create(name=f"新盘 {number}", city="杭州")
        project.teams.add(w.user("consultant").team)


def _more_notifications(w: World, n: int = 3) -> None:
    for persona in w.users:
        user = w.user(persona)
        if user is not None:
            for i in range(n):
                notify(user=user, message=f"提醒 {i}", target=w.obj("customer"))


def _more_of_everything(w: World) -> None:
    _more_customers(w, 2)
    _more_deals(w, 2)
    _more_requests(w, 2)
    _more_campaigns(w, 2)
    _more_notifications(w, 2)
    _more_projects(w)


# The pages --------------------------------------------------------------------------


def test_each_roles_home_page_keeps_its_query_budget(w: World) -> None:
    for persona in (
        "consultant",
        "sales_manager",
        "service_agent",
        "service_manager",
        "marketer",
        "executive",
        "administrator",
        "broker",
    ):
        _check(
            f"home:{persona}",
            _client(w, persona),
            reverse("home"),
            lambda: _more_of_everything(w),
            cold=True,
        )


def test_notifications_keep_their_query_budget(w: World) -> None:
    _check(
        "notifications",
        _client(w, "consultant"),
        reverse("notifications"),
        lambda: _more_notifications(w),
    )


def test_customer_pages_keep_their_query_budget(w: World) -> None:
    grow = lambda: (_more_customers(w), _more_notifications(w, 1))  # noqa: E731
    for persona in ("consultant", "sales_manager"):
        _check(
            f"customer-list:{persona}",
            _client(w, persona),
            reverse("customers:customer-list"),
            grow,
        )
    _check(
        "customer-detail",
        _client(w, "consultant"),
        w.obj("customer").get_absolute_url(),
        lambda: (_more_timeline(w), _more_deal_rows(w, 1)),
    )
    _check(
        "my-day",
        _client(w, "consultant"),
        reverse("sales:my-day"),
        grow,
    )


def test_sales_pages_keep_their_query_budget(w: World) -> None:
    consultant = _client(w, "consultant")
    grow = lambda: _more_deals(w, 2)  # noqa: E731
    _check("deal-list", consultant, reverse("sales:opportunity-list"), grow)
    _check("deal-board", consultant, reverse("sales:opportunity-board"), grow)
    _check(
        "deal-detail",
        consultant,
        w.obj("deal").get_absolute_url(),
        lambda: _more_deal_rows(w),
    )
    _check(
        "building-grid",
        consultant,
        reverse("sales:building-grid", args=[w.obj("building").pk]),
        grow,
    )
    _check(
        "pool",
        consultant,
        reverse("sales:pool"),
        lambda: (_more_customers(w), _more_projects(w)),
    )


def test_service_pages_keep_their_query_budget(w: World) -> None:
    agent = _client(w, "service_agent")
    grow = lambda: _more_requests(w)  # noqa: E731
    _check("request-list", agent, reverse("service:request-list"), grow)
    _check(
        "request-detail",
        agent,
        reverse("service:request-detail", args=[w.obj("service_request").pk]),
        grow,
    )


def test_campaign_pages_keep_their_query_budget(w: World) -> None:
    marketer = _client(w, "marketer")
    grow = lambda: _more_campaigns(w)  # noqa: E731
    _check("campaign-list", marketer, reverse("marketing:campaign-list"), grow)
    _check(
        "campaign-detail",
        marketer,
        reverse("marketing:campaign-detail", args=[w.obj("campaign").pk]),
        grow,
    )


def test_dashboards_keep_their_query_budget(w: World) -> None:
    grow = lambda: _more_of_everything(w)  # noqa: E731
    for name, persona in (
        ("sales", "sales_manager"),
        ("service", "service_manager"),
        ("marketing", "marketer"),
    ):
        _check(
            f"dashboard:{name}",
            _client(w, persona),
            reverse(f"{name}:dashboard"),
            grow,
            cold=True,
        )
