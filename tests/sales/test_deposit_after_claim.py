"""A consultant who claimed a pool customer takes their deposit: the deal follows
the protection (README: claim one from the pool, then take the deposit)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from sales.models import IntentDeposit, Opportunity, Project, Registration
from sales.services import deposits, ownership
from tests.factories import CustomerFactory, register_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(team):
    p = Project.objects.create(name="安居·御景湾")
    p.teams.add(team)
    return p


def _lapsed_then_claimed(consultant, other_consultant, project):
    customer = CustomerFactory(assigned_consultant=None)
    # The first consultant registered the buyer long ago and worked a deal to visited,
    # then stopped following up: the protection lapsed and the sweep returned them.
    register_at(customer, consultant, project, days_ago=400)
    deal = Opportunity.objects.create(
        customer=customer,
        project=project,
        consultant=consultant,
        stage=Opportunity.Stage.VISITED,
    )
    ownership.registrations_sweep()
    assert not Registration.objects.filter(
        customer=customer, status=Registration.Status.PROTECTED
    ).exists()
    # The colleague claims them from the pool and now protects them at the project.
    ownership.pool_claim(actor=other_consultant, customer=customer, project=project)
    return customer, deal


def test_the_consultant_who_claimed_a_pool_customer_can_take_their_deposit(
    consultant, other_consultant, project
):
    customer, _deal = _lapsed_then_claimed(consultant, other_consultant, project)

    deposits.deposit_take(
        actor=other_consultant,
        project=project,
        customer=customer,
        receipt_number="R-1",
        method="transfer",
    )

    assert IntentDeposit.objects.filter(customer=customer).count() == 1


def test_the_deposit_page_takes_a_claimed_pool_customers_deposit(
    client, consultant, other_consultant, project
):
    customer, _deal = _lapsed_then_claimed(consultant, other_consultant, project)
    client.force_login(other_consultant)

    client.post(
        reverse("sales:deposit-take", args=[project.pk]),
        {
            "customer": customer.pk,
            "receipt_number": "R-2",
            "amount": "20000",
            "method": "transfer",
            "paid_on": timezone.localdate().isoformat(),
        },
    )

    assert IntentDeposit.objects.filter(customer=customer).count() == 1


def test_a_claim_hands_the_deal_left_open_there_to_the_claimant_audited(
    consultant, other_consultant, project
):
    from crm_site.audit import audit_entries_for

    _customer, deal = _lapsed_then_claimed(consultant, other_consultant, project)
    deal.refresh_from_db()
    assert deal.consultant == other_consultant
    assert any("consultant" in (e.changes or {}) for e in audit_entries_for(deal))


def test_a_deal_left_open_by_an_earlier_claim_goes_to_the_protector_with_the_deposit(
    consultant, other_consultant, project
):
    # A claim made before deals followed claims: the deal still names the first one.
    customer, deal = _lapsed_then_claimed(consultant, other_consultant, project)
    Opportunity.objects.filter(pk=deal.pk).update(consultant=consultant)
    deposits.deposit_take(
        actor=other_consultant,
        project=project,
        customer=customer,
        receipt_number="R-2",
        method="transfer",
    )
    deal.refresh_from_db()
    assert deal.consultant == other_consultant
