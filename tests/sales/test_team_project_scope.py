"""The sales desk's team-project scope and protection: deposits of intent, a sales
manager's deals after a consultant moves team, My day's pool returns, the earner's
commissions, the project filters and the sales home's pool figure."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from crm_site.models import Notification
from crm_site.roles import Role
from sales import services
from sales.forms_aftersale import CommissionFilterForm
from sales.forms_insight import InsightFilterForm
from sales.models import (
    DiscountRequest,
    IntentDeposit,
    Opportunity,
    OwnershipEvent,
    Project,
)
from sales.services import deposits
from sales.services.money import sales_managers_of
from tests.factories import CustomerFactory, UserFactory, make_building, register_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def our_second_project(team):
    project = Project.objects.create(name="安居·翠湖苑")
    project.teams.add(team)
    return project


@pytest.fixture
def far_manager(other_team):
    return UserFactory(username="far_manager", team=other_team, role=Role.SALES_MANAGER)


def _take_deposit(client, project, customer, receipt="R-9001"):
    return client.post(
        reverse("sales:deposit-take", args=[project.pk]),
        {
            "customer": customer.pk,
            "receipt_number": receipt,
            "amount": "20000",
            "method": "transfer",
            "paid_on": timezone.localdate().isoformat(),
        },
    )


@pytest.fixture
def contested(consultant, other_consultant, our_project, our_second_project):
    """A customer the consultant protects at our_project and the colleague at
    our_second_project: both may change them, only the consultant sells at the
    first."""
    customer = CustomerFactory(assigned_consultant=None)
    register_at(customer, consultant, our_project)
    register_at(customer, other_consultant, our_second_project)
    return customer


# Deposits of intent ---------------------------------------------------------------


def test_a_deposit_is_not_taken_for_a_customer_a_colleague_protects_at_the_project(
    client, contested, other_consultant, our_project
):
    client.force_login(other_consultant)

    response = _take_deposit(client, our_project, contested)

    assert response.status_code == 200
    assert "该客户在此项目处于保护期内" in response.content.decode()
    assert not IntentDeposit.objects.filter(customer=contested).exists()
    assert not Opportunity.objects.filter(
        customer=contested, project=our_project
    ).exists()


def test_deposit_take_refuses_a_colleagues_protection_on_the_customer_field(
    contested, other_consultant, our_project
):
    with pytest.raises(ValidationError) as refused:
        deposits.deposit_take(
            actor=other_consultant,
            project=our_project,
            customer=contested,
            receipt_number="R-1",
            method="transfer",
        )
    assert "customer" in refused.value.message_dict


def test_a_deposit_is_not_hung_on_a_colleagues_open_deal(
    client, contested, consultant, other_consultant, our_project
):
    theirs = Opportunity.objects.create(
        customer=contested, project=our_project, consultant=consultant
    )
    client.force_login(other_consultant)

    _take_deposit(client, our_project, contested)

    assert not IntentDeposit.objects.filter(customer=contested).exists()
    theirs.refresh_from_db()
    assert theirs.stage == Opportunity.Stage.NEW


def test_a_deposit_is_not_hung_on_a_colleagues_open_deal_without_a_protection(
    consultant, other_consultant, our_project
):
    """The deal outlived the registration (lapsed): it is still its consultant's."""
    customer = CustomerFactory(assigned_consultant=other_consultant)
    Opportunity.objects.create(
        customer=customer, project=our_project, consultant=consultant
    )
    with pytest.raises(ValidationError):
        deposits.deposit_take(
            actor=other_consultant,
            project=our_project,
            customer=customer,
            receipt_number="R-2",
            method="transfer",
        )


def test_the_protecting_consultant_takes_the_deposit_on_their_own_open_deal(
    client, contested, consultant, our_project
):
    mine = Opportunity.objects.create(
        customer=contested, project=our_project, consultant=consultant
    )
    client.force_login(consultant)

    _take_deposit(client, our_project, contested)

    deposit = IntentDeposit.objects.get(customer=contested)
    assert deposit.opportunity == mine
    mine.refresh_from_db()
    assert mine.stage == Opportunity.Stage.VISITED


@pytest.mark.parametrize("text", ["²", "①", "¹²"])
def test_the_deposit_search_answers_a_digit_that_is_not_a_number(
    client, consultant, our_project, text
):
    client.force_login(consultant)
    response = client.get(
        reverse("sales:deposit-list", args=[our_project.pk]), {"q": text}
    )
    assert response.status_code == 200


def test_the_deposit_search_still_finds_a_queue_number(client, consultant):
    from tests.opening_fixtures import make_deposit

    project = Project.objects.create(name="安居·排号")
    first = make_deposit(project=project, consultant=consultant)
    make_deposit(project=project, consultant=consultant)
    client.force_login(consultant)

    page = client.get(
        reverse("sales:deposit-list", args=[project.pk]), {"q": "1"}
    ).context["page"]

    assert [d.pk for d in page.items] == [first.pk]


# A consultant moved to another team -----------------------------------------------


@pytest.fixture
def moved_deal(consultant, other_team):
    """A deal of the consultant holding a unit at a project their team sells; then
    the consultant moves to the other team (Users → team)."""
    building = make_building(project_name="安居·御景湾二期")
    project = building.project
    project.teams.add(consultant.team)
    customer = CustomerFactory(assigned_consultant=consultant)
    deal = services.opportunity_open(
        actor=consultant, customer=customer, project=project
    )
    services.unit_reserve(
        actor=consultant, opportunity=deal, unit=building.units.order_by("pk")[0]
    )
    consultant.team = other_team
    consultant.save(update_fields=["team"])
    return deal


def test_a_discount_at_a_project_is_decided_by_a_manager_of_a_team_that_sells_it(
    client, consultant, sales_manager, far_manager, moved_deal
):
    Notification.objects.all().delete()
    request = services.discount_request(
        actor=consultant, opportunity=moved_deal, percent=Decimal("30"), reason="老客户"
    )
    assert request.status == DiscountRequest.Status.PENDING
    assert Notification.objects.filter(user=sales_manager).exists()
    assert not Notification.objects.filter(user=far_manager).exists()

    client.force_login(far_manager)
    assert client.get(moved_deal.get_absolute_url()).status_code == 404
    client.post(
        reverse("sales:approval-decide", args=[request.pk]),
        {"decision": "approve", "confirmed": "1"},
    )
    request.refresh_from_db()
    assert request.status == DiscountRequest.Status.PENDING

    client.force_login(sales_manager)
    assert client.get(moved_deal.get_absolute_url()).status_code == 200


def _overview_counts(user) -> dict:
    """The overview's reservations of today and what waits now, for this user."""
    from crm_site.overview import Scope, scope_key
    from sales import overview as sales_overview

    today = timezone.localdate()
    reserved = sales_overview.stage_changes_in(
        user=user,
        project_id=None,
        first=today,
        stop=today + timedelta(days=1),
        stages=[Opportunity.Stage.RESERVED],
    )
    return {
        "reserved": set(reserved.values_list("opportunity_id", flat=True)),
        **sales_overview.current(
            Scope(user=user, project_id=None, key=scope_key(user))
        ),
    }


def test_a_moved_consultants_deal_stays_in_the_overview_of_the_projects_team(
    consultant, sales_manager, far_manager, moved_deal
):
    services.discount_request(
        actor=consultant, opportunity=moved_deal, percent=Decimal("30"), reason="老客户"
    )

    ours = _overview_counts(sales_manager)
    theirs = _overview_counts(far_manager)

    assert ours["reserved"] == {moved_deal.pk}
    assert ours["sales.approvals"] == 1
    assert theirs["reserved"] == set()
    assert theirs["sales.approvals"] == 0
    # The figures count what the lists show.
    for manager, counts in ((sales_manager, ours), (far_manager, theirs)):
        listed = set(
            Opportunity.objects.visible_to(manager).values_list("pk", flat=True)
        )
        assert counts["reserved"] == listed


def test_a_moved_consultants_deal_stays_in_the_insight_figures_of_the_projects_team(
    sales_manager, far_manager, moved_deal
):
    from sales.insight import deal_scope
    from sales.models import DealFact, StageDuration
    from tests.insight_fixtures import facts_refreshed

    facts_refreshed()
    assert DealFact.objects.get(deal_id=moved_deal.pk).team_id == far_manager.team_id

    for manager, expected in ((sales_manager, {moved_deal.pk}), (far_manager, set())):
        listed = set(
            Opportunity.objects.visible_to(manager).values_list("pk", flat=True)
        )
        counted = set(
            DealFact.objects.filter(deal_scope(manager)).values_list(
                "deal_id", flat=True
            )
        )
        stayed = set(
            StageDuration.objects.filter(deal_scope(manager)).values_list(
                "deal_id", flat=True
            )
        )
        assert counted == stayed == listed == expected


def test_a_moved_consultants_deal_counts_for_a_new_team_that_sells_the_project_too(
    consultant, sales_manager, far_manager, moved_deal, other_team
):
    """Both teams sell the project: the deal is the consultant's team's, as listed."""
    from sales.insight import deal_scope
    from sales.models import DealFact
    from tests.insight_fixtures import facts_refreshed

    moved_deal.project.teams.add(other_team)
    facts_refreshed()

    for manager, expected in ((sales_manager, set()), (far_manager, {moved_deal.pk})):
        listed = set(
            Opportunity.objects.visible_to(manager).values_list("pk", flat=True)
        )
        counted = set(
            DealFact.objects.filter(deal_scope(manager)).values_list(
                "deal_id", flat=True
            )
        )
        assert counted == _overview_counts(manager)["reserved"] == listed == expected


def test_the_dashboard_funnel_counts_a_moved_consultants_deal_for_the_projects_team(
    sales_manager, far_manager, moved_deal
):
    from sales.dashboard import sales_dashboard

    today = timezone.localdate()
    for manager, expected in ((sales_manager, 1), (far_manager, 0)):
        funnel = sales_dashboard(user=manager, start=today, end=today).funnel
        reserved = next(s for s in funnel if s["step"] == Opportunity.Stage.RESERVED)
        assert reserved["value"] == expected


def test_a_manager_keeps_their_own_teams_deals_and_not_anothers_at_a_shared_project(
    consultant, far_consultant, sales_manager, far_manager, our_project, other_team
):
    our_project.teams.add(other_team)
    ours = Opportunity.objects.create(
        customer=CustomerFactory(assigned_consultant=consultant),
        project=our_project,
        consultant=consultant,
    )
    theirs = Opportunity.objects.create(
        customer=CustomerFactory(assigned_consultant=far_consultant),
        project=our_project,
        consultant=far_consultant,
    )

    assert set(Opportunity.objects.visible_to(sales_manager)) == {ours}
    assert set(Opportunity.objects.visible_to(far_manager)) == {theirs}


def test_a_manager_sees_their_teams_deals_at_a_project_without_teams(
    consultant, far_consultant, sales_manager
):
    everyone = Project.objects.create(name="安居·无团队")
    ours = Opportunity.objects.create(
        customer=CustomerFactory(assigned_consultant=consultant),
        project=everyone,
        consultant=consultant,
    )
    Opportunity.objects.create(
        customer=CustomerFactory(assigned_consultant=far_consultant),
        project=everyone,
        consultant=far_consultant,
    )

    assert set(Opportunity.objects.visible_to(sales_manager)) == {ours}


def test_approval_notices_go_to_the_consultants_team_at_a_project_without_teams(
    consultant, sales_manager, far_manager
):
    everyone = Project.objects.create(name="安居·无团队")
    assert set(sales_managers_of(consultant, everyone)) == {sales_manager}
    assert set(sales_managers_of(consultant)) == {sales_manager}


def test_a_moved_consultants_refund_request_goes_to_the_projects_managers(
    client, consultant, sales_manager, far_manager, our_project, other_team
):
    from tests.opening_fixtures import make_deposit

    deposit = make_deposit(project=our_project, consultant=consultant)
    consultant.team = other_team
    consultant.save(update_fields=["team"])
    Notification.objects.all().delete()

    deposits.deposit_refund_request(actor=consultant, deposit=deposit, reason="不买了")

    assert Notification.objects.filter(user=sales_manager).exists()
    assert not Notification.objects.filter(user=far_manager).exists()
    assert deposits.deposits_visible_to(sales_manager).filter(pk=deposit.pk).exists()
    assert not deposits.deposits_visible_to(far_manager).filter(pk=deposit.pk).exists()


# My day ---------------------------------------------------------------------------


def test_my_day_offers_pool_returns_only_at_projects_the_team_sells(
    client, consultant, our_project, their_project
):
    ours = CustomerFactory(name="本组退回", assigned_consultant=None)
    theirs = CustomerFactory(name="他组退回", assigned_consultant=None)
    for customer, project in ((ours, our_project), (theirs, their_project)):
        OwnershipEvent.objects.create(
            customer=customer,
            project=project,
            kind=OwnershipEvent.Kind.LAPSED,
            at=timezone.now() - timedelta(hours=1),
        )
    client.force_login(consultant)

    shown = client.get(reverse("sales:my-day")).context["pool_new"]

    assert [event.project_id for event in shown] == [our_project.pk]


# Commissions ----------------------------------------------------------------------


def test_a_consultant_still_sees_the_commission_they_earned_after_the_deal_is_reassigned(
    client, consultant, other_consultant, sales_manager, own_customer
):
    from sales.models import Commission, CommissionRule, Registration
    from sales.services import ownership
    from tests.sales.test_changes_after_contract import signed_deal

    building = make_building()
    project = building.project
    CommissionRule.objects.create(
        project=project, basis="percent", rate=Decimal("1.5"), earned_at="contracted"
    )
    register_at(own_customer, consultant, project)
    deal = signed_deal(consultant, own_customer, building.units.order_by("pk")[0])
    earned = Commission.objects.get(opportunity=deal)
    ownership.registration_reassign(
        actor=sales_manager,
        registration=Registration.objects.get(
            customer=own_customer, project=project, status="protected"
        ),
        consultant=other_consultant,
        reason="调岗",
    )

    client.force_login(consultant)
    assert list(client.get(reverse("sales:commission-list")).context["page"].items) == [
        earned
    ]
    # The deal's new consultant did not earn it.
    client.force_login(other_consultant)
    assert not client.get(reverse("sales:commission-list")).context["page"].items


# Project filters ------------------------------------------------------------------


def _offered(response, key):
    if key == "projects":
        return set(response.context["projects"])
    return set(response.context["form"].fields["project"].queryset)


@pytest.mark.parametrize(
    ("url_name", "key"),
    [
        ("sales:opportunity-list", "projects"),
        ("sales:opportunity-board", "projects"),
        ("sales:insight-win-loss", "form"),
        ("sales:insight-velocity", "form"),
        ("sales:insight-cohorts", "form"),
        ("sales:commission-list", "form"),
    ],
)
def test_a_sales_page_project_filter_offers_only_projects_the_team_sells(
    client, sales_manager, our_project, their_project, url_name, key
):
    client.force_login(sales_manager)
    offered = _offered(client.get(reverse(url_name)), key)
    assert our_project in offered
    assert their_project not in offered


def test_the_deal_board_ignores_a_project_the_team_does_not_sell(
    client, sales_manager, consultant, our_project, their_project
):
    """Another team's project is treated as an unknown id: not named, not filtered."""
    Opportunity.objects.create(
        customer=CustomerFactory(assigned_consultant=consultant),
        project=our_project,
        consultant=consultant,
    )
    client.force_login(sales_manager)

    response = client.get(
        reverse("sales:opportunity-board"), {"project": their_project.pk}
    )

    assert response.status_code == 200
    assert response.context["project"] is None
    assert their_project.name not in response.content.decode()
    assert response.context["total_count"] == 1


def test_the_deal_board_filters_by_a_project_the_team_sells(
    client, sales_manager, consultant, our_project, our_second_project
):
    for project in (our_project, our_second_project):
        Opportunity.objects.create(
            customer=CustomerFactory(assigned_consultant=consultant),
            project=project,
            consultant=consultant,
        )
    client.force_login(sales_manager)

    response = client.get(
        reverse("sales:opportunity-board"), {"project": our_project.pk}
    )

    assert response.context["project"] == our_project
    assert response.context["total_count"] == 1


def test_the_commission_filter_refuses_a_project_the_team_does_not_sell(
    client, sales_manager, their_project
):
    client.force_login(sales_manager)
    response = client.get(
        reverse("sales:commission-list"), {"project": their_project.pk}
    )
    assert response.status_code == 400


def test_the_filter_forms_offer_every_project_without_a_user(
    our_project, their_project
):
    for form in (CommissionFilterForm(), InsightFilterForm()):
        assert {our_project, their_project} <= set(form.fields["project"].queryset)


# The sales home's pool figure -----------------------------------------------------


def test_the_sales_home_pool_figure_counts_what_the_pool_lists(client, consultant):
    survivor = CustomerFactory(name="留存", assigned_consultant=None)
    CustomerFactory(name="被并入", assigned_consultant=None, merged_into=survivor)
    CustomerFactory(
        name="已匿名", assigned_consultant=None, anonymised_at=timezone.now()
    )
    CustomerFactory(name="业主", assigned_consultant=None, stage="owner")
    client.force_login(consultant)

    listed = client.get(reverse("sales:pool")).context["page"].total
    figure = client.get(reverse("sales:home")).context["pool_size"]

    assert listed == 1
    assert figure == listed
