"""The sales desk acts only within the projects the user's team sells and, for a
sales manager, on their own team's protections (sales.views)."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from sales import services
from sales.models import Opportunity, Registration, Unit, UnitHold
from tests.factories import CustomerFactory, make_building, register_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def their_building(other_team):
    """A building of a project only the other team sells."""
    building = make_building(project_name="安居·江南府")
    building.project.teams.add(other_team)
    return building


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _reassign(client, registration, consultant, reason="客户要求换顾问"):
    return client.post(
        reverse("sales:registration-reassign", args=[registration.pk]),
        {"consultant": consultant.pk, "reason": reason},
    )


# Reassigning a registration ----------------------------------------------------------


def test_a_sales_manager_cannot_reassign_another_teams_registration_at_their_project(
    client, sales_manager, consultant, far_consultant, our_project, their_project
):
    customer = CustomerFactory(assigned_consultant=None)
    theirs = register_at(customer, far_consultant, their_project)
    register_at(customer, consultant, our_project)  # so our manager sees the customer
    client.force_login(sales_manager)

    response = _reassign(client, theirs, consultant, reason="抢单")

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Registration.Status.PROTECTED
    assert theirs.consultant == far_consultant


def test_the_customer_page_offers_reassign_only_on_the_managers_teams_protection(
    client, sales_manager, consultant, far_consultant, our_project, their_project
):
    customer = CustomerFactory(assigned_consultant=None)
    theirs = register_at(customer, far_consultant, their_project)
    ours = register_at(customer, consultant, our_project)
    client.force_login(sales_manager)
    panels = reverse("customers:customer-panels", args=[customer.pk])
    page = client.get(panels).content.decode()
    assert reverse("sales:registration-reassign", args=[ours.pk]) in page
    assert reverse("sales:registration-reassign", args=[theirs.pk]) not in page


def test_a_sales_manager_cannot_take_another_teams_protection_where_both_teams_sell(
    client, sales_manager, consultant, other_consultant, far_consultant
):
    """A project without teams is sold by everyone: its registrations are still the
    protecting consultant's team's to hand over (撞单)."""
    first = make_building(project_name="一期").project
    second = make_building(project_name="二期").project
    customer = CustomerFactory(assigned_consultant=consultant)
    register_at(customer, consultant, first)
    theirs = register_at(customer, far_consultant, second)
    client.force_login(sales_manager)

    response = _reassign(client, theirs, other_consultant, reason="抢单")

    assert response.status_code == 404
    assert (
        Registration.objects.get(
            customer=customer, project=second, status=Registration.Status.PROTECTED
        ).consultant
        == far_consultant
    )


def test_a_sales_manager_reassigns_their_teams_registration(
    client, sales_manager, consultant, other_consultant, our_project
):
    customer = CustomerFactory(assigned_consultant=consultant)
    registration = register_at(customer, consultant, our_project)
    client.force_login(sales_manager)

    response = _reassign(client, registration, other_consultant)

    assert response.status_code == 302
    assert (
        Registration.objects.get(
            customer=customer, status=Registration.Status.PROTECTED
        ).consultant
        == other_consultant
    )


def test_a_registration_is_not_handed_to_a_consultant_of_another_team(
    client, sales_manager, consultant, far_consultant, our_project
):
    customer = CustomerFactory(assigned_consultant=consultant)
    registration = register_at(customer, consultant, our_project)
    client.force_login(sales_manager)

    response = _reassign(client, registration, far_consultant)

    assert response.status_code == 302
    assert _messages(response)
    registration.refresh_from_db()
    assert registration.status == Registration.Status.PROTECTED
    assert registration.consultant == consultant


@pytest.mark.parametrize("reason", ["", "   ", "客户\x00要求"])
def test_a_reassignment_without_a_usable_reason_changes_nothing(
    client, sales_manager, consultant, other_consultant, our_project, reason
):
    """Posted as multipart (the InputGuard middleware skips it): a NUL byte is a form
    error, not a 500 from PostgreSQL."""
    customer = CustomerFactory(assigned_consultant=consultant)
    registration = register_at(customer, consultant, our_project)
    client.force_login(sales_manager)

    response = _reassign(client, registration, other_consultant, reason=reason)

    assert response.status_code == 302
    assert _messages(response)
    registration.refresh_from_db()
    assert registration.status == Registration.Status.PROTECTED
    assert registration.consultant == consultant


def test_a_consultant_may_not_reassign(
    client, consultant, other_consultant, our_project
):
    customer = CustomerFactory(assigned_consultant=consultant)
    registration = register_at(customer, consultant, our_project)
    client.force_login(consultant)
    assert _reassign(client, registration, other_consultant).status_code == 403


# Claiming from the pool --------------------------------------------------------------


def test_a_consultant_cannot_claim_from_the_pool_at_a_project_their_team_does_not_sell(
    client, consultant, our_project, their_project
):
    customer = CustomerFactory(assigned_consultant=None)
    client.force_login(consultant)

    response = client.post(
        reverse("sales:pool-claim", args=[customer.pk]), {"project": their_project.pk}
    )

    assert response.status_code == 404
    assert not Registration.objects.filter(customer=customer).exists()


def test_a_consultant_claims_from_the_pool_at_their_teams_project(
    client, consultant, our_project
):
    customer = CustomerFactory(assigned_consultant=None)
    client.force_login(consultant)

    response = client.post(
        reverse("sales:pool-claim", args=[customer.pk]), {"project": our_project.pk}
    )

    assert response.status_code == 302
    assert Registration.objects.get(customer=customer).project == our_project


def test_the_pool_page_offers_only_the_projects_the_team_sells(
    client, consultant, our_project, their_project
):
    CustomerFactory(assigned_consultant=None)
    client.force_login(consultant)
    projects = client.get(reverse("sales:pool")).context["projects"]
    assert our_project in projects and their_project not in projects


# Units, grids and deals of another team's project ------------------------------------


def test_a_unit_of_a_project_the_team_does_not_sell_cannot_be_held(
    client, consultant, their_building
):
    CustomerFactory(mobile="+8613512345678", assigned_consultant=consultant)
    unit = their_building.units.order_by("pk").first()
    client.force_login(consultant)

    response = client.post(
        reverse("sales:unit-reserve", args=[unit.pk]), {"mobile": "13512345678"}
    )

    assert response.status_code == 404
    unit.refresh_from_db()
    assert unit.status == Unit.Status.AVAILABLE
    assert not Opportunity.objects.exists()


def test_a_unit_of_the_teams_project_is_held(client, consultant, our_project):
    building = make_building(project_name=our_project.name)
    CustomerFactory(mobile="+8613512345678", assigned_consultant=consultant)
    unit = building.units.order_by("pk").first()
    client.force_login(consultant)

    client.post(
        reverse("sales:unit-reserve", args=[unit.pk]), {"mobile": "13512345678"}
    )

    unit.refresh_from_db()
    assert unit.status == Unit.Status.RESERVED


def test_the_grid_and_units_of_a_project_another_team_sells_are_not_shown(
    client, consultant, far_consultant, their_building
):
    unit = their_building.units.order_by("pk").first()
    urls = [
        reverse("sales:building-grid", args=[their_building.pk]),
        reverse("sales:building-grid-cells", args=[their_building.pk]),
        reverse("sales:unit-detail", args=[unit.pk]),
    ]
    client.force_login(consultant)
    for url in urls:
        assert client.get(url).status_code == 404, url
    client.force_login(far_consultant)
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_the_sales_home_lists_only_the_projects_the_team_sells(
    client, consultant, our_project, their_building
):
    client.force_login(consultant)
    projects = list(client.get(reverse("sales:home")).context["projects"])
    assert our_project in projects and their_building.project not in projects


def test_a_deal_cannot_be_opened_at_a_project_the_team_does_not_sell(
    client, consultant, our_project, their_project
):
    customer = CustomerFactory(assigned_consultant=consultant)
    url = reverse("sales:opportunity-open", args=[customer.pk])
    client.force_login(consultant)

    offered = client.get(url).context["form"].fields["project"].queryset
    response = client.post(url, {"project": their_project.pk})

    assert our_project in offered and their_project not in offered
    assert response.status_code == 200 and response.context["form"].errors
    assert not Opportunity.objects.exists()
    assert client.post(url, {"project": our_project.pk}).status_code == 302
    assert Opportunity.objects.get().project == our_project


# Moving a reserved deal back -------------------------------------------------------


@pytest.fixture
def reserved_deal(consultant, own_customer):
    building = make_building()
    deal = services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    unit = building.units.order_by("pk").first()
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    deal.refresh_from_db()
    return deal


def test_the_stage_form_does_not_offer_visited_while_the_deal_holds_a_unit(
    client, consultant, reserved_deal
):
    client.force_login(consultant)
    form = client.get(reserved_deal.get_absolute_url()).context["move_form"]
    assert [value for value, _label in form.fields["stage"].choices] == ["lost"]


def test_a_reserved_deal_is_not_moved_back_to_visited_with_its_unit_held(
    client, consultant, reserved_deal
):
    unit = reserved_deal.unit
    client.force_login(consultant)

    client.post(
        reverse("sales:opportunity-move", args=[reserved_deal.pk]),
        {"stage": "visited"},
    )

    reserved_deal.refresh_from_db()
    unit.refresh_from_db()
    assert reserved_deal.stage == Opportunity.Stage.RESERVED
    assert reserved_deal.unit == unit and unit.status == Unit.Status.RESERVED
    assert UnitHold.objects.filter(
        opportunity=reserved_deal, status=UnitHold.Status.ACTIVE
    ).exists()


def test_releasing_the_unit_takes_a_reserved_deal_back_to_visited(
    client, consultant, reserved_deal
):
    unit = reserved_deal.unit
    client.force_login(consultant)

    client.post(
        reverse("sales:hold-release", args=[reserved_deal.pk]), {"confirmed": "1"}
    )

    reserved_deal.refresh_from_db()
    unit.refresh_from_db()
    assert reserved_deal.stage == Opportunity.Stage.VISITED
    assert reserved_deal.unit is None and unit.status == Unit.Status.AVAILABLE


@pytest.fixture
def moved_protection(consultant, other_consultant, our_project, other_team):
    """The consultant protects a customer at our project, then moves to the other
    team (which does not sell it); a colleague's registration at another of our
    projects lets our manager see the customer."""
    from sales.models import Project

    second = Project.objects.create(name="安居·翠湖苑")
    second.teams.add(our_project.teams.get())
    customer = CustomerFactory(assigned_consultant=None)
    registration = register_at(customer, consultant, our_project)
    register_at(customer, other_consultant, second)
    consultant.team = other_team
    consultant.save(update_fields=["team"])
    return registration


def test_the_projects_manager_reassigns_a_protection_held_by_a_consultant_who_moved(
    client, sales_manager, other_consultant, moved_protection
):
    client.force_login(sales_manager)

    response = _reassign(client, moved_protection, other_consultant, reason="调岗")

    assert response.status_code == 302
    assert (
        Registration.objects.get(
            project=moved_protection.project, status=Registration.Status.PROTECTED
        ).consultant
        == other_consultant
    )


def test_the_moved_consultants_new_manager_cannot_reassign_their_old_protection(
    client, consultant, far_consultant, moved_protection, other_team
):
    from crm_site.roles import Role
    from tests.factories import UserFactory

    far_manager = UserFactory(
        username="far_manager", team=other_team, role=Role.SALES_MANAGER
    )
    client.force_login(far_manager)

    response = _reassign(client, moved_protection, far_consultant, reason="调岗")

    assert response.status_code == 404
    moved_protection.refresh_from_db()
    assert moved_protection.status == Registration.Status.PROTECTED
    assert moved_protection.consultant == consultant


def test_a_manager_still_keeps_off_a_protection_whose_holders_team_sells_the_project(
    sales_manager, consultant, moved_protection, other_team
):
    """Once the new team sells the project too, the protection is that team's (撞单)."""
    from sales.selectors import registrations_reassignable_by

    moved_protection.project.teams.add(other_team)

    assert not registrations_reassignable_by(sales_manager).filter(
        pk=moved_protection.pk
    )


def test_an_administrator_without_a_team_reassigns_to_a_consultant_of_the_projects_team(
    client, administrator, consultant, other_consultant, our_project
):
    assert administrator.team_id is None
    customer = CustomerFactory(assigned_consultant=consultant)
    registration = register_at(customer, consultant, our_project)
    client.force_login(administrator)

    response = _reassign(client, registration, other_consultant)

    assert response.status_code == 302
    assert (
        Registration.objects.get(
            customer=customer, status=Registration.Status.PROTECTED
        ).consultant
        == other_consultant
    )


def test_an_administrator_cannot_hand_a_protection_to_a_team_that_does_not_sell_it(
    client, administrator, consultant, far_consultant, our_project, other_team
):
    """Not even to their own team's consultant: the deals would follow the
    protection to a consultant who cannot open the project."""
    administrator.team = other_team
    administrator.save(update_fields=["team"])
    customer = CustomerFactory(assigned_consultant=consultant)
    registration = register_at(customer, consultant, our_project)
    client.force_login(administrator)

    response = _reassign(client, registration, far_consultant)

    assert response.status_code == 302
    assert _messages(response)
    registration.refresh_from_db()
    assert registration.status == Registration.Status.PROTECTED
    assert registration.consultant == consultant
