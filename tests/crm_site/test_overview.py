from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from crm_site import overview
from customers.services import interaction_log
from sales.models import Opportunity, PaymentItem, Project, Receipt
from service import surveys
from service.models import ServiceRequest
from tests.factories import CustomerFactory
from tests.helpers import assert_queries_do_not_grow

HOME = reverse("home")


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _receipt(deal, amount: str, day: date, user) -> Receipt:
    item = PaymentItem.objects.create(
        opportunity=deal,
        sequence=PaymentItem.objects.filter(opportunity=deal).count() + 1,
        kind=PaymentItem.Kind.choices[0][0],
        due_date=day,
        amount=Decimal(amount),
    )
    return Receipt.objects.create(
        item=item,
        amount=Decimal(amount),
        received_on=day,
        method=Receipt.Method.choices[0][0],
        recorded_by=user,
    )


def _request(customer, user, **fields) -> ServiceRequest:
    now = timezone.now()
    values = {
        "kind": "complaint",
        "customer": customer,
        "category": "construction",
        "severity": "normal",
        "channel": "phone",
        "description": "漏水",
        "receiver": user,
        "response_due": now + timedelta(hours=4),
        "resolution_due": now + timedelta(days=3),
    }
    values.update(fields)
    return ServiceRequest.objects.create(**values)


@pytest.fixture
def activity(consultant, sign, service_agent):
    """Today: two visits, one subscription, one contract, a receipt; service load."""
    customers = CustomerFactory.create_batch(3, assigned_consultant=consultant)
    for customer in customers[:2]:
        interaction_log(
            customer=customer, kind="visit", summary="到访", actor=consultant
        )
    sign(customers[0], consultant, stage=Opportunity.Stage.SUBSCRIBED)
    deal = sign(customers[1], consultant)
    _receipt(deal, "200000.00", timezone.localdate(), consultant)
    owner = CustomerFactory(stage="owner")
    _request(owner, service_agent)
    _request(owner, service_agent, resolution_due=timezone.now() - timedelta(hours=1))
    _request(
        owner,
        service_agent,
        status="called_back",
        satisfied=True,
        resolved_at=timezone.now(),
    )
    closed = [
        _request(
            owner,
            service_agent,
            status="closed",
            satisfied=satisfied,
            resolved_at=timezone.now(),
        )
        for satisfied in (False, True)
    ]
    # The owner answers both surveys: very satisfied (100) and not at all (0).
    for request, score in zip(closed, (5, 1), strict=True):
        invitation = surveys.invitation_for_request(request)
        surveys.survey_submit(
            invitation=invitation,
            scores={q.pk: score for q in surveys.questions_of(invitation)},
            comment="",
        )
    return deal


def test_period_windows():
    today = date(2026, 11, 27)
    assert overview.period_window("month", today) == (date(2026, 11, 1), today)
    assert overview.period_window("week", today) == (date(2026, 11, 23), today)
    assert overview.period_window("last_month", today) == (
        date(2026, 10, 1),
        date(2026, 10, 31),
    )
    assert overview.period_window("quarter", today) == (date(2026, 10, 1), today)
    assert overview.period_window("year", today) == (date(2026, 1, 1), today)


def test_the_executive_sees_todays_and_this_months_figures(client, executive, activity):
    client.force_login(executive)
    response = client.get(HOME)
    assert response.status_code == 200
    board = response.context["board"]
    assert board.sales["visits"] == {"today": 2, "period": 2}
    assert board.sales["subscribeds"] == {"today": 2, "period": 2}
    assert board.sales["contracteds"] == {"today": 1, "period": 1}
    assert board.sales["contract_value"]["today"] == activity.agreed_price
    assert board.sales["collections"]["period"] == Decimal("200000.00")
    assert board.service == {"open": 3, "overdue": 1}
    assert (board.satisfaction["value"], board.satisfaction["answered"]) == (50, 2)


def test_each_figure_links_to_the_page_behind_it_filtered(
    client, executive, activity, project
):
    client.force_login(executive)
    response = client.get(HOME, {"project": project.pk, "period": "year"})
    links = response.context["links"]
    year = timezone.localdate().replace(month=1, day=1)
    assert links["contracts"] == (
        f"{reverse('sales:opportunity-list')}?reached=contracted&project={project.pk}"
        f"&start={year:%Y-%m-%d}&end={timezone.localdate():%Y-%m-%d}"
    )
    assert (
        links["overdue_requests"] == f"{reverse('service:request-list')}?view=overdue"
    )
    assert f"project={project.pk}" in links["collections"]
    body = response.content.decode()
    for url in links.values():
        assert url.replace("&", "&amp;") in body
    for url in (links["contracts"], links["overdue_requests"], links["visits"]):
        assert client.get(url).status_code == 200
    # The list behind a figure shows as many deals as the figure says.
    deals = client.get(links["contracts"]).context["page"].items
    assert [d.pk for d in deals] == [activity.pk]
    subscribed = client.get(links["subscriptions"]).context["page"].items
    assert len(subscribed) == board_figure(response, "subscribeds")


def board_figure(response, name: str) -> int:
    return response.context["board"].sales[name]["period"]


def test_the_project_filter_narrows_the_figures(client, executive, activity):
    elsewhere = Project.objects.create(name="别处")
    client.force_login(executive)
    board = client.get(HOME, {"project": elsewhere.pk}).context["board"]
    assert board.sales["contracteds"] == {"today": 0, "period": 0}
    assert board.sales["visits"]["period"] == 0


def test_last_month_excludes_today(client, executive, activity):
    client.force_login(executive)
    board = client.get(HOME, {"period": "last_month"}).context["board"]
    assert board.sales["contracteds"] == {"today": 1, "period": 0}


def test_figures_are_cached_for_a_minute_per_filter(
    client, executive, activity, sign, consultant
):
    client.force_login(executive)
    client.get(HOME)
    sign(CustomerFactory(assigned_consultant=consultant), consultant)
    assert client.get(HOME).context["board"].sales["contracteds"]["today"] == 1
    assert (
        client.get(HOME, {"period": "week"})
        .context["board"]
        .sales["contracteds"]["today"]
        == 2
    )


def test_a_sales_manager_sees_their_teams_figures(
    client, sales_manager, far_consultant, activity, sign
):
    sign(CustomerFactory(assigned_consultant=far_consultant), far_consultant)
    client.force_login(sales_manager)
    board = client.get(HOME).context["board"]
    assert board.sales["contracteds"]["today"] == 1


@pytest.mark.parametrize(
    ("persona", "kind"),
    [
        ("consultant", "my-day"),
        ("sales_manager", "overview"),
        ("service_agent", "home"),
        ("service_manager", "overview"),
        ("marketer", "home"),
        ("executive", "overview"),
        ("administrator", "overview"),
        ("outsider", "home"),
    ],
    indirect=["persona"],
)
def test_the_home_page_of_every_role(client, persona, kind):
    client.force_login(persona)
    response = client.get(HOME)
    if kind == "my-day":
        assert response.url == reverse("sales:my-day")
        return
    assert response.status_code == 200
    template = "crm_site/overview.html" if kind == "overview" else "crm_site/home.html"
    assert template in [t.name for t in response.templates]


def test_the_service_manager_sees_service_figures_but_no_sales(
    client, service_manager, activity
):
    client.force_login(service_manager)
    body = client.get(HOME).content.decode()
    assert 'data-testid="overview-service"' in body
    assert 'data-testid="overview-sales"' not in body


def test_top_campaigns_rank_by_contracted_value(client, executive, marketer, project):
    from marketing.models import Campaign

    today = timezone.localdate()
    for name in ("开盘品鉴会", "老业主答谢"):
        Campaign.objects.create(
            name=name,
            kind=Campaign.Kind.EVENT,
            project=project,
            starts_on=today,
            ends_on=today,
            created_by=marketer,
        )
    client.force_login(executive)
    response = client.get(HOME)
    names = [c["name"] for c in response.context["board"].campaigns]
    assert sorted(names) == ["开盘品鉴会", "老业主答谢"]
    assert 'data-testid="overview-campaigns"' in response.content.decode()


def test_the_overview_queries_do_not_grow(
    client, executive, consultant, sign, service_agent
):
    client.force_login(executive)

    def grow():
        cache.clear()
        for _ in range(3):
            customer = CustomerFactory(assigned_consultant=consultant)
            interaction_log(
                customer=customer, kind="visit", summary="到访", actor=consultant
            )
            sign(customer, consultant)
            _request(customer, service_agent)

    def load():
        cache.clear()
        client.get(HOME)

    grow()
    assert_queries_do_not_grow(load, grow, at_most=16)


def test_warm_fills_the_default_overview_of_every_scope_once(
    executive, administrator, sales_manager, activity, django_assert_max_num_queries
):
    from crm_site.tasks import overview_warm

    # Executives and administrators share "all"; the sales manager has the team's.
    assert overview_warm() == 2
    # Only the user's permissions are read: the figures come from the cache.
    with django_assert_max_num_queries(2):
        from django.utils.translation import override

        with override("zh-hans"):
            board = overview.overview(
                user=executive, project=None, period=overview.DEFAULT_PERIOD
            )
    assert board.sales["contracteds"]["today"] == 1


def test_past_days_are_counted_and_cached_apart_from_today(executive, consultant, sign):
    from datetime import datetime, time

    from sales.models import StageChange

    today = date(2026, 6, 15)

    def contract_on(day: date) -> None:
        deal = sign(CustomerFactory(assigned_consultant=consultant), consultant)
        StageChange.objects.filter(opportunity=deal).update(
            changed_at=timezone.make_aware(datetime.combine(day, time(10)))
        )

    contract_on(today - timedelta(days=1))
    board = overview.compute(user=executive, project=None, period="year", today=today)
    assert board.sales["contracteds"] == {"today": 0, "period": 1}
    contract_on(today)
    contract_on(today - timedelta(days=2))  # recorded late: past days are cached
    board = overview.compute(user=executive, project=None, period="year", today=today)
    assert board.sales["contracteds"] == {"today": 1, "period": 2}
    cache.clear()
    board = overview.compute(user=executive, project=None, period="year", today=today)
    assert board.sales["contracteds"] == {"today": 1, "period": 3}
