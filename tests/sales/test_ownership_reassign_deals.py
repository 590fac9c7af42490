"""A manager's reassignment of a protected customer takes the customer's open deal at
the project to the new consultant; commission already earned stays with its earner."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from crm_site.audit import audit_entries_for
from sales import services
from sales.models import Commission, CommissionRule, Opportunity, Registration
from sales.services import ownership
from tests.factories import make_building, register_at
from tests.sales.test_changes_after_contract import _pay, signed_deal

pytestmark = pytest.mark.django_db


@pytest.fixture
def building(db):
    return make_building()


def _protection(customer, project) -> Registration:
    return Registration.objects.get(
        customer=customer, project=project, status=Registration.Status.PROTECTED
    )


def test_reassigning_a_customer_hands_the_open_deal_to_the_new_consultant(
    client, consultant, other_consultant, sales_manager, own_customer, building
):
    project = building.project
    register_at(own_customer, consultant, project)
    deal = services.opportunity_open(
        actor=consultant, customer=own_customer, project=project
    )
    client.force_login(sales_manager)
    client.post(
        reverse(
            "sales:registration-reassign", args=[_protection(own_customer, project).pk]
        ),
        {"consultant": other_consultant.pk, "reason": "李娜离职"},
    )
    deal.refresh_from_db()
    assert deal.consultant == other_consultant
    entry = audit_entries_for(deal).first()
    assert entry.actor == sales_manager
    assert entry.changes["consultant"]["new"] == str(other_consultant)
    # The new consultant works the deal: opening it again finds it, and it shows.
    client.force_login(other_consultant)
    response = client.post(
        reverse("sales:opportunity-open", args=[own_customer.pk]),
        {"project": project.pk},
    )
    assert response.status_code == 302 and response.url == deal.get_absolute_url()
    assert client.get(response.url).status_code == 200
    # The consultant who left it no longer sees it.
    client.force_login(consultant)
    assert client.get(deal.get_absolute_url()).status_code == 404


def test_reassigning_leaves_ended_deals_and_other_projects_deals_alone(
    consultant, other_consultant, sales_manager, own_customer, building
):
    project = building.project
    elsewhere = make_building(project_name="安居·云栖").project
    register_at(own_customer, consultant, project)
    register_at(own_customer, consultant, elsewhere)
    lost = services.opportunity_open(
        actor=consultant, customer=own_customer, project=project
    )
    lost.move_to(Opportunity.Stage.LOST, actor=consultant, reason="price")
    there = services.opportunity_open(
        actor=consultant, customer=own_customer, project=elsewhere
    )
    here = services.opportunity_open(
        actor=consultant, customer=own_customer, project=project
    )
    ownership.registration_reassign(
        actor=sales_manager,
        registration=_protection(own_customer, project),
        consultant=other_consultant,
        reason="调岗",
    )
    consultants = dict(
        Opportunity.objects.filter(pk__in=[lost.pk, there.pk, here.pk]).values_list(
            "pk", "consultant_id"
        )
    )
    assert consultants == {
        lost.pk: consultant.pk,
        there.pk: consultant.pk,
        here.pk: other_consultant.pk,
    }
    # Nothing moved, nothing audited: the manager left no entry on either deal.
    for deal in (lost, there):
        assert not audit_entries_for(deal).filter(actor=sales_manager).exists()


def test_commission_earned_before_a_reassignment_stays_with_its_earner(
    consultant, other_consultant, sales_manager, own_customer, building
):
    project = building.project
    CommissionRule.objects.create(
        project=project, basis="percent", rate=Decimal("1.5"), earned_at="contracted"
    )
    register_at(own_customer, consultant, project)
    deal = signed_deal(consultant, own_customer, building.units.order_by("pk")[0])
    assert Commission.objects.get(opportunity=deal).consultant == consultant
    ownership.registration_reassign(
        actor=sales_manager,
        registration=_protection(own_customer, project),
        consultant=other_consultant,
        reason="李娜离职",
    )
    deal.refresh_from_db()
    assert deal.consultant == other_consultant
    # The contract still protects the customer, now for the consultant holding both.
    assert _protection(own_customer, project).consultant == other_consultant
    _pay(other_consultant, deal, deal.agreed_price)
    deal.refresh_from_db()
    assert deal.stage == Opportunity.Stage.PAID
    commission = Commission.objects.get(opportunity=deal)
    assert (commission.consultant, commission.status) == (consultant, "payable")
