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
    assert _today_and_period(board, "sales.visits") == (2, 2)
    assert _today_and_period(board, "sales.subscriptions") == (2, 2)
    assert _today_and_period(board, "sales.contracts") == (1, 1)
    assert board.raw["sales.contract_value"]["today"] == activity.agreed_price
    assert board.value("sales.collections") == Decimal("200000.00")
    assert (board.value("service.open"), board.value("service.overdue")) == (3, 1)
    assert board.value("service.received") == 5
    assert board.value("service.satisfaction") == 50


def _today_and_period(board, key: str) -> tuple:
    return board.raw[key]["today"], board.raw[key]["value"]


def _links(response) -> dict[str, str]:
    return {
        fig.figure.key: fig.url
        for block in response.context["sections"]
        for fig in block.values
    }


def test_each_figure_links_to_the_page_behind_it_filtered(
    client, executive, activity, project
):
    client.force_login(executive)
    response = client.get(HOME, {"project": project.pk, "period": "year"})
    links = _links(response)
    year = timezone.localdate().replace(month=1, day=1)
    assert links["sales.contracts"] == (
        f"{reverse('sales:opportunity-list')}?reached=contracted&project={project.pk}"
        f"&start={year:%Y-%m-%d}&end={timezone.localdate():%Y-%m-%d}"
    )
    assert links["service.overdue"] == (
        f"{reverse('service:request-list')}?view=overdue&project={project.pk}"
    )
    assert f"project={project.pk}" in links["sales.collections"]
    body = response.content.decode()
    for url in links.values():
        assert url.replace("&", "&amp;") in body
    for url in links.values():
        assert client.get(url).status_code == 200
    deals = client.get(links["sales.contracts"]).context["page"].items
    assert [d.pk for d in deals] == [activity.pk]


def test_the_project_filter_narrows_the_figures(client, executive, activity):
    elsewhere = Project.objects.create(name="别处")
    client.force_login(executive)
    board = client.get(HOME, {"project": elsewhere.pk}).context["board"]
    assert _today_and_period(board, "sales.contracts") == (0, 0)
    assert board.value("sales.visits") == 0


def test_last_month_excludes_today(client, executive, activity):
    client.force_login(executive)
    board = client.get(HOME, {"period": "last_month"}).context["board"]
    assert _today_and_period(board, "sales.contracts") == (1, 0)


def test_figures_are_cached_for_a_minute_per_filter(
    client, executive, activity, sign, consultant
):
    client.force_login(executive)
    client.get(HOME)
    sign(CustomerFactory(assigned_consultant=consultant), consultant)
    assert client.get(HOME).context["board"].raw["sales.contracts"]["today"] == 1
    week = client.get(HOME, {"period": "week"}).context["board"]
    assert week.raw["sales.contracts"]["today"] == 2


def test_a_sales_manager_sees_their_teams_figures(
    client, sales_manager, far_consultant, activity, sign
):
    sign(CustomerFactory(assigned_consultant=far_consultant), far_consultant)
    client.force_login(sales_manager)
    board = client.get(HOME).context["board"]
    assert board.raw["sales.contracts"]["today"] == 1


@pytest.mark.parametrize(
    ("persona", "kind"),
    [
        ("consultant", "my-day"),
        ("sales_manager", "overview"),
        ("service_agent", "queue"),
        ("service_manager", "overview"),
        ("marketer", "marketing"),
        ("executive", "overview"),
        ("administrator", "overview"),
        ("outsider", "home"),
    ],
    indirect=["persona"],
)
def test_the_home_page_of_every_role(client, persona, kind):
    client.force_login(persona)
    response = client.get(HOME)
    landings = {
        "my-day": reverse("sales:my-day"),
        "queue": f"{reverse('service:request-list')}?view=mine",
        "marketing": reverse("marketing:dashboard"),
    }
    if kind in landings:
        assert response.url == landings[kind]
        assert client.get(response.url).status_code == 200
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
    names = [c["name"] for c in response.context["board"].extras["marketing"]]
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
    # 34: the GM mailbox's section (issue 14) counts its letters of the period, the
    # previous period and now.
    assert_queries_do_not_grow(load, grow, at_most=35)


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
                user=executive, project_id=None, period=overview.DEFAULT_PERIOD
            )
    assert board.raw["sales.contracts"]["today"] == 1


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
    board = overview.compute(
        user=executive, project_id=None, period="year", today=today
    )
    assert _today_and_period(board, "sales.contracts") == (0, 1)
    contract_on(today)
    contract_on(today - timedelta(days=2))  # recorded late: past days are cached
    board = overview.compute(
        user=executive, project_id=None, period="year", today=today
    )
    assert _today_and_period(board, "sales.contracts") == (1, 2)
    cache.clear()
    board = overview.compute(
        user=executive, project_id=None, period="year", today=today
    )
    assert _today_and_period(board, "sales.contracts") == (1, 3)


def test_the_previous_period_is_the_same_days_before():
    today = date(2026, 3, 31)
    window = overview.period_window
    assert overview.previous_window("month", *window("month", today)) == (
        date(2026, 2, 1),
        date(2026, 2, 28),
    )
    assert overview.previous_window("month", *window("month", date(2026, 6, 15))) == (
        date(2026, 5, 1),
        date(2026, 5, 15),
    )
    assert overview.previous_window("last_month", *window("last_month", today)) == (
        date(2026, 1, 1),
        date(2026, 1, 31),
    )
    assert overview.previous_window("week", *window("week", today)) == (
        date(2026, 3, 23),
        date(2026, 3, 24),
    )
    assert overview.previous_window("quarter", *window("quarter", today)) == (
        date(2025, 10, 1),
        date(2025, 12, 31),
    )
    assert overview.previous_window("year", *window("year", today)) == (
        date(2025, 1, 1),
        date(2025, 3, 31),
    )


def _contract_on(sign, consultant, day: date):
    from datetime import datetime, time

    from sales.models import StageChange

    deal = sign(CustomerFactory(assigned_consultant=consultant), consultant)
    StageChange.objects.filter(opportunity=deal).update(
        changed_at=timezone.make_aware(datetime.combine(day, time(10)))
    )
    return deal


def test_each_figure_is_compared_with_the_same_days_of_the_previous_period(
    executive, consultant, sign
):
    today = date(2026, 6, 15)
    _contract_on(sign, consultant, date(2026, 5, 10))
    _contract_on(sign, consultant, date(2026, 5, 20))  # after the 15th: not compared
    _contract_on(sign, consultant, date(2026, 6, 2))
    _contract_on(sign, consultant, today)
    _contract_on(sign, consultant, date(2026, 6, 16))  # a later day: not counted
    board = overview.compute(
        user=executive, project_id=None, period="month", today=today
    )
    raw = board.raw["sales.contracts"]
    assert (raw["today"], raw["value"], raw["previous"]) == (1, 2, 1)
    assert (board.previous_start, board.previous_end) == (
        date(2026, 5, 1),
        date(2026, 5, 15),
    )
    value = overview.FigureValue(figure=overview.figures()["sales.contracts"], **raw)
    assert (value.direction, value.change, value.good) == ("up", 1, True)
    overdue = overview.FigureValue(
        figure=overview.figures()["service.overdue"], value=3, previous=1
    )
    assert overdue.good is False  # more overdue requests is bad news


def test_a_target_is_shown_when_one_is_set_for_each_month_of_the_period(
    executive, sales_manager, consultant, sign, team
):
    from crm_site.models import Target

    today = date(2026, 6, 15)
    _contract_on(sign, consultant, date(2026, 6, 2))
    Target.objects.create(
        figure="sales.contracts", month=date(2026, 6, 1), value=Decimal("4")
    )
    Target.objects.create(
        figure="sales.contracts", month=date(2026, 6, 1), value=2, team=team
    )
    Target.objects.create(
        figure="service.satisfaction", month=date(2026, 5, 1), value=Decimal("85")
    )
    Target.objects.create(
        figure="service.satisfaction", month=date(2026, 6, 1), value=Decimal("90")
    )

    def targets(user, period="month"):
        return overview.compute(
            user=user, project_id=None, period=period, today=today
        ).targets

    assert targets(executive) == {"sales.contracts": 4, "service.satisfaction": 90}
    # A quarter adds its months' targets up: April has none, so there is no target.
    assert "sales.contracts" not in targets(executive, "quarter")
    assert targets(executive, "week") == {}
    # The sales manager sees their team's target.
    assert targets(sales_manager) == {"sales.contracts": 2}
    figure = overview.FigureValue(
        figure=overview.figures()["sales.contracts"], value=1, target=Decimal("4")
    )
    assert (figure.target_percent, figure.target_met) == (25, False)


def test_the_page_shows_the_change_the_previous_value_and_the_target(
    client, executive, activity
):
    from crm_site.models import Target

    Target.objects.create(
        figure="sales.contracts",
        month=timezone.localdate().replace(day=1),
        value=Decimal("2"),
    )
    from django.conf import settings

    client.force_login(executive)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    body = client.get(HOME).content.decode()
    start = body.index('data-testid="fig-sales.contracts"')
    card = " ".join(body[start : body.index("</a>", start)].split())
    # Today's contract against none on the same days of last month, half the target.
    assert 'data-direction="up">▲ 1</span>' in card
    assert "previous 0" in card
    assert "target</span> 2" in card and "50%" in card


def test_every_figures_link_yields_exactly_the_rows_it_counts(
    client, executive, sales_manager, activity, project, service_agent
):
    from marketing.models import Campaign, CampaignMember, Response
    from sales.models import Receipt
    from service.models import SurveyResponse

    campaign = Campaign.objects.create(
        name="开盘品鉴会",
        kind="event",
        project=project,
        starts_on=timezone.localdate(),
        ends_on=timezone.localdate(),
    )
    for kind in ("signup", "checkin"):
        guest = CustomerFactory()
        member = CampaignMember.objects.create(campaign=campaign, customer=guest)
        Response.objects.create(
            campaign=campaign, member=member, customer=guest, kind=kind
        )
    PaymentItem.objects.create(
        opportunity=activity,
        sequence=9,
        kind=PaymentItem.Kind.choices[0][0],
        due_date=timezone.localdate() - timedelta(days=3),
        amount=Decimal("50000.00"),
    )
    for user in (executive, sales_manager):
        client.force_login(user)
        response = client.get(HOME, {"period": "month"})
        board = response.context["board"]
        links = _links(response)
        for key, url in links.items():
            page = client.get(url)
            assert page.status_code == 200, key
            rows = page.context["page"].items
            if key in ("sales.collections", "sales.contract_value"):
                amount = (
                    sum(r.amount for r in rows)
                    if key == "sales.collections"
                    else sum(d.agreed_price for d in rows)
                )
                assert amount == board.value(key), key
                continue
            if key == "service.satisfaction":
                indices = [r.index for r in rows]
                assert all(isinstance(r, SurveyResponse) for r in rows)
                assert sum(indices) / len(indices) == board.value(key)
                continue
            if key == "sales.approvals":
                rows = [*rows, *page.context["changes"]]
            assert len(rows) == board.value(key), key
        assert board.value("sales.overdue_payments") == 1
        if user == executive:
            assert board.value("marketing.responses") == 2
            assert board.value("marketing.checkins") == 1
            assert board.value("sales.visits") == 2
            assert Receipt.objects.count() == 1
    # A project narrows the lists as it narrows the figures.
    client.force_login(executive)
    response = client.get(HOME, {"project": project.pk})
    links = _links(response)
    assert len(client.get(links["sales.contracts"]).context["page"].items) == 1
    # The requests have no unit, so none is at the project.
    assert client.get(links["service.open"]).context["page"].items == []


def test_the_overview_runs_a_fixed_number_of_queries(
    executive, consultant, sign, service_agent, django_assert_num_queries
):
    # A fixed day: on the first of a quarter there are no past days to count.
    today = date(2026, 6, 15)

    def grow():
        for _ in range(3):
            customer = CustomerFactory(assigned_consultant=consultant)
            interaction_log(
                customer=customer, kind="visit", summary="到访", actor=consultant
            )
            sign(customer, consultant)
            _request(customer, service_agent)

    def compute():
        cache.clear()
        return overview.compute(
            user=executive, project_id=None, period="quarter", today=today
        )

    executive.has_perm("x")  # permissions read once, as on a page
    grow()
    # 27 with the GM mailbox's section (issue 14): its letters in each window, and now.
    with django_assert_num_queries(27) as first:
        compute()
    grow()
    with django_assert_num_queries(len(first.captured_queries)):
        compute()


def test_the_service_agents_queue_puts_the_late_requests_first(
    client, service_agent, service_manager
):
    owner = CustomerFactory(stage="owner")
    soon = _request(owner, service_agent, resolution_due=timezone.now() + timedelta(1))
    late = _request(owner, service_agent, resolution_due=timezone.now() - timedelta(1))
    waiting = _request(
        owner,
        service_agent,
        status="resolved",
        resolution_due=timezone.now() - timedelta(days=2),
    )
    _request(owner, service_manager)  # someone else's
    client.force_login(service_agent)
    response = client.get(client.get(HOME).url)
    assert [r.pk for r in response.context["page"].items] == [
        late.pk,
        waiting.pk,
        soon.pk,
    ]


def test_an_administrator_sets_a_target_for_a_registered_figure(client, administrator):
    from crm_site.models import Target

    client.force_login(administrator)
    url = reverse("admin:crm_site_target_add")
    page = client.get(url)
    assert page.status_code == 200
    assert 'value="sales.contracts"' in page.content.decode()
    response = client.post(
        url,
        {"figure": "sales.contracts", "month": "2026-06-17", "value": "12"},
    )
    assert response.status_code == 302
    target = Target.objects.get()
    assert (target.month, target.value) == (date(2026, 6, 1), 12)
    refused = client.post(
        url, {"figure": "no.such_figure", "month": "2026-06-01", "value": "1"}
    )
    assert refused.status_code == 200 and Target.objects.count() == 1


@pytest.mark.parametrize(
    "name", ["sales:visit-list", "sales:receipt-list", "marketing:response-list"]
)
def test_the_lists_behind_the_figures_run_a_fixed_number_of_queries(
    client, executive, consultant, sign, project, name
):
    from marketing.models import Campaign, CampaignMember, Response

    campaign = Campaign.objects.create(
        name="开放日",
        kind="event",
        project=project,
        starts_on=timezone.localdate(),
        ends_on=timezone.localdate(),
    )

    def grow():
        for _ in range(3):
            customer = CustomerFactory(assigned_consultant=consultant)
            interaction_log(
                customer=customer, kind="visit", summary="到访", actor=consultant
            )
            _receipt(
                sign(customer, consultant), "1000.00", timezone.localdate(), consultant
            )
            member = CampaignMember.objects.create(campaign=campaign, customer=customer)
            Response.objects.create(
                campaign=campaign, member=member, customer=customer, kind="signup"
            )

    client.force_login(executive)
    grow()
    url = reverse(name)
    assert len(client.get(url).context["page"].items) == 3
    assert_queries_do_not_grow(lambda: client.get(url), grow, at_most=12)
