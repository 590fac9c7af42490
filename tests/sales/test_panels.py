"""The customer page's sales panel (sales.panels.customer_panel): each protection's
reassign select offers exactly the consultants registration_reassign accepts
(sales.selectors.reassign_targets), at a fixed number of queries."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from crm_site.roles import Role
from sales.models import Project, Registration
from sales.panels import customer_panel
from tests.factories import CustomerFactory, UserFactory, register_at
from tests.helpers import count_queries

pytestmark = pytest.mark.django_db


def _offered(panel: dict, registration) -> set[int]:
    """The consultant ids the registration's reassign select offers."""
    for row in panel["registrations"]:
        if row.pk == registration.pk:
            if not (panel["can_reassign"] and row.reassignable):
                return set()
            return {
                int(pk) for pk in re.findall(r'value="(\d+)"', row.reassign_options)
            }
    raise AssertionError("registration not on the panel")


def test_an_administrator_without_a_team_is_offered_the_projects_consultants(
    administrator, consultant, other_consultant, far_consultant, our_project
):
    assert administrator.team_id is None
    customer = CustomerFactory(assigned_consultant=consultant)
    registration = register_at(customer, consultant, our_project)

    panel = customer_panel(customer=customer, user=administrator)

    assert _offered(panel, registration) == {other_consultant.pk}


def test_an_administrator_with_a_team_is_offered_the_consultants_of_the_projects_team(
    administrator, consultant, other_consultant, far_consultant, our_project, other_team
):
    """Not their own team's: it does not sell the project (the view refuses them)."""
    administrator.team = other_team
    administrator.save(update_fields=["team"])
    customer = CustomerFactory(assigned_consultant=consultant)
    registration = register_at(customer, consultant, our_project)

    panel = customer_panel(customer=customer, user=administrator)

    assert _offered(panel, registration) == {other_consultant.pk}


def test_each_protection_offers_the_consultants_of_its_own_projects_teams(
    administrator, consultant, far_consultant, our_project, their_project, team
):
    customer = CustomerFactory(assigned_consultant=consultant)
    ours = register_at(customer, consultant, our_project)
    theirs = register_at(customer, far_consultant, their_project)
    colleague = UserFactory(username="colleague", team=team, role=Role.CONSULTANT)

    panel = customer_panel(customer=customer, user=administrator)

    assert _offered(panel, ours) == {colleague.pk}
    assert _offered(panel, theirs) == set()  # far_consultant is alone in their team


def test_a_project_without_teams_offers_every_consultant_to_an_administrator(
    administrator, consultant, other_consultant, far_consultant
):
    open_project = Project.objects.create(name="安居·公开盘")
    customer = CustomerFactory(assigned_consultant=consultant)
    registration = register_at(customer, consultant, open_project)

    panel = customer_panel(customer=customer, user=administrator)

    assert _offered(panel, registration) == {other_consultant.pk, far_consultant.pk}


def test_a_sales_manager_is_offered_their_teams_consultants(
    sales_manager, consultant, other_consultant, far_consultant, our_project
):
    customer = CustomerFactory(assigned_consultant=consultant)
    registration = register_at(customer, consultant, our_project)

    panel = customer_panel(customer=customer, user=sales_manager)

    assert _offered(panel, registration) == {other_consultant.pk}


def test_the_panel_offers_what_the_reassign_view_accepts(
    client, administrator, consultant, other_consultant, our_project
):
    customer = CustomerFactory(assigned_consultant=consultant)
    registration = register_at(customer, consultant, our_project)
    client.force_login(administrator)
    page = client.get(
        reverse("customers:customer-panels", args=[customer.pk]),
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert reverse("sales:registration-reassign", args=[registration.pk]) in page
    assert f'<option value="{other_consultant.pk}">' in page

    response = client.post(
        reverse("sales:registration-reassign", args=[registration.pk]),
        {"consultant": other_consultant.pk, "reason": "客户要求换顾问"},
    )

    assert response.status_code == 302
    assert (
        Registration.objects.get(
            customer=customer, status=Registration.Status.PROTECTED
        ).consultant
        == other_consultant
    )


@pytest.mark.parametrize("persona", ["sales_manager", "administrator"], indirect=True)
def test_the_managers_panel_takes_a_fixed_number_of_queries(
    persona, consultant, team, other_team
):
    """One more protection at another project (its own options) adds no query once
    its options are cached."""
    customer = CustomerFactory(assigned_consultant=consultant)
    first = Project.objects.create(name="一期")
    first.teams.add(team)
    register_at(customer, consultant, first)
    customer_panel(customer=customer, user=persona)  # warm the options' cache
    before = count_queries(lambda: customer_panel(customer=customer, user=persona))
    for n, teams in enumerate([[team], [team, other_team], []]):
        project = Project.objects.create(name=f"{n + 2}期")
        project.teams.add(*teams)
        register_at(customer, consultant, project)
    customer_panel(customer=customer, user=persona)
    after = count_queries(lambda: customer_panel(customer=customer, user=persona))
    assert after <= before <= 4
