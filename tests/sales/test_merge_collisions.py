"""A customer merge never gives one buyer what sales allows a buyer once: two open
deals at one project, more valid deposits than the project allows, or a co-buyer row
naming the buyer on their own deal (sales.merge_handlers)."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from customers.models import Customer, DuplicatePair, MergeRecord
from customers.services.merge import (
    MergeRefused,
    customer_merge,
    customer_merge_restore,
)
from sales.models import CoBuyer, IntentDeposit, Opportunity
from tests.factories import CustomerFactory, make_building
from tests.opening_fixtures import make_deposit

pytestmark = pytest.mark.django_db

LOST = Opportunity.Stage.LOST
CONTRACTED = Opportunity.Stage.CONTRACTED


@pytest.fixture
def project():
    return make_building(floors=1, per_floor=2, skipped=()).project


@pytest.fixture
def pair(consultant, other_consultant):
    survivor = CustomerFactory(name="王五", assigned_consultant=consultant)
    absorbed = CustomerFactory(name="王五", assigned_consultant=other_consultant)
    return survivor, absorbed


def _merge(actor, survivor, absorbed) -> MergeRecord:
    return customer_merge(actor=actor, survivor=survivor, absorbed=absorbed, choices={})


def _unmerged(absorbed: Customer) -> bool:
    return (
        Customer.objects.get(pk=absorbed.pk).merged_into_id is None
        and not MergeRecord.objects.exists()
    )


# One open deal per customer and project --------------------------------------------


def test_merge_refuses_two_open_deals_at_one_project_naming_both(
    administrator, consultant, other_consultant, project, pair
):
    survivor, absorbed = pair
    mine = Opportunity.objects.create(
        customer=survivor, project=project, consultant=consultant
    )
    theirs = Opportunity.objects.create(
        customer=absorbed, project=project, consultant=other_consultant
    )
    with pytest.raises(MergeRefused) as refused:
        _merge(administrator, survivor, absorbed)
    message = str(refused.value)
    assert f"#{mine.pk}" in message and f"#{theirs.pk}" in message
    assert project.name in message and other_consultant.display_name in message
    assert _unmerged(absorbed)
    assert Opportunity.objects.get(pk=theirs.pk).customer_id == absorbed.pk


def test_merge_goes_through_once_one_of_the_two_deals_is_closed_and_undo_brings_it_back(
    administrator, consultant, other_consultant, project, pair
):
    survivor, absorbed = pair
    mine = Opportunity.objects.create(
        customer=survivor, project=project, consultant=consultant
    )
    closed = Opportunity.objects.create(
        customer=absorbed, project=project, consultant=other_consultant, stage=LOST
    )
    record = _merge(administrator, survivor, absorbed)
    open_deals = Opportunity.objects.filter(
        customer=survivor, project=project, stage__in=Opportunity.OPEN_STAGES
    )
    assert list(open_deals) == [mine]
    assert Opportunity.objects.get(pk=closed.pk).customer_id == survivor.pk
    customer_merge_restore(actor=administrator, record=record)
    assert Opportunity.objects.get(pk=closed.pk).customer_id == absorbed.pk


def test_merge_refuses_a_lead_beside_a_signed_contract_at_one_project(
    administrator, consultant, other_consultant, project, pair
):
    survivor, absorbed = pair
    Opportunity.objects.create(
        customer=survivor, project=project, consultant=consultant, stage=CONTRACTED
    )
    lead = Opportunity.objects.create(
        customer=absorbed, project=project, consultant=other_consultant
    )
    with pytest.raises(MergeRefused, match=f"#{lead.pk}"):
        _merge(administrator, survivor, absorbed)
    assert _unmerged(absorbed)


def test_two_signed_contracts_at_one_project_are_two_homes_and_both_move(
    administrator, consultant, other_consultant, project, pair
):
    # Nothing is left to close: a contract ends only through an approved change.
    survivor, absorbed = pair
    Opportunity.objects.create(
        customer=survivor, project=project, consultant=consultant, stage=CONTRACTED
    )
    theirs = Opportunity.objects.create(
        customer=absorbed,
        project=project,
        consultant=other_consultant,
        stage=CONTRACTED,
    )
    record = _merge(administrator, survivor, absorbed)
    assert Opportunity.objects.get(pk=theirs.pk).customer_id == survivor.pk
    customer_merge_restore(actor=administrator, record=record)
    assert Opportunity.objects.get(pk=theirs.pk).customer_id == absorbed.pk


def test_merge_moves_open_deals_at_different_projects(
    administrator, consultant, other_consultant, project, pair
):
    survivor, absorbed = pair
    other_project = make_building(
        project_name="安居·二期", floors=1, per_floor=2, skipped=()
    ).project
    Opportunity.objects.create(
        customer=survivor, project=project, consultant=consultant
    )
    theirs = Opportunity.objects.create(
        customer=absorbed, project=other_project, consultant=other_consultant
    )
    record = _merge(administrator, survivor, absorbed)
    assert Opportunity.objects.get(pk=theirs.pk).customer_id == survivor.pk
    assert record.moved["sales.opportunity"] == [theirs.pk]


def test_the_refusal_is_shown_on_the_duplicates_list_and_nothing_is_merged(
    client, sales_manager, consultant, other_consultant, project, pair
):
    survivor, absorbed = pair
    Opportunity.objects.create(
        customer=survivor, project=project, consultant=consultant
    )
    theirs = Opportunity.objects.create(
        customer=absorbed, project=project, consultant=other_consultant
    )
    first, second = sorted(pair, key=lambda c: c.pk)
    duplicate = DuplicatePair.objects.create(
        first=first, second=second, reasons=["phone"]
    )
    url = reverse("customers:duplicate-merge", args=[duplicate.pk])
    client.force_login(sales_manager)
    rows = client.get(url, {"survivor": survivor.pk}).context["rows"]
    data = {row.name: "survivor" for row in rows}
    data["survivor"] = survivor.pk

    response = client.post(url, data)

    assert response.status_code == 302
    assert response.url == reverse("customers:duplicate-list")
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(f"#{theirs.pk}" in text for text in shown)
    assert _unmerged(absorbed)
    duplicate.refresh_from_db()
    assert duplicate.status == DuplicatePair.Status.OPEN


# Valid deposits within the project's limit per buyer -------------------------------


def test_merge_refuses_more_valid_deposits_than_the_project_allows_naming_the_later(
    administrator, consultant, other_consultant, project, pair
):
    survivor, absorbed = pair
    assert project.deposits_per_buyer == 1
    earlier = make_deposit(project=project, consultant=consultant, customer=survivor)
    later = make_deposit(
        project=project, consultant=other_consultant, customer=absorbed
    )
    with pytest.raises(MergeRefused) as refused:
        _merge(administrator, survivor, absorbed)
    message = str(refused.value)
    # The buyer keeps the earlier place in the queue; the later one is to refund.
    assert later.receipt_number in message
    assert earlier.receipt_number not in message
    assert project.name in message
    assert _unmerged(absorbed)
    assert IntentDeposit.objects.get(pk=later.pk).customer_id == absorbed.pk


def test_merge_refuses_deposits_before_the_deals_they_opened(
    administrator, consultant, other_consultant, project, pair
):
    # Taking a deposit opens a deal: the refusal names the deposit to refund.
    survivor, absorbed = pair
    for customer, user in ((survivor, consultant), (absorbed, other_consultant)):
        deal = Opportunity.objects.create(
            customer=customer, project=project, consultant=user
        )
        later = make_deposit(
            project=project, consultant=user, customer=customer, opportunity=deal
        )
    with pytest.raises(MergeRefused, match=later.receipt_number):
        _merge(administrator, survivor, absorbed)


def test_merge_moves_deposits_within_the_projects_limit_and_undo_brings_them_back(
    administrator, consultant, other_consultant, project, pair
):
    survivor, absorbed = pair
    project.deposits_per_buyer = 2
    project.save(update_fields=["deposits_per_buyer"])
    make_deposit(project=project, consultant=consultant, customer=survivor)
    theirs = make_deposit(
        project=project, consultant=other_consultant, customer=absorbed
    )
    record = _merge(administrator, survivor, absorbed)
    assert IntentDeposit.objects.get(pk=theirs.pk).customer_id == survivor.pk
    customer_merge_restore(actor=administrator, record=record)
    assert IntentDeposit.objects.get(pk=theirs.pk).customer_id == absorbed.pk


def test_merge_moves_a_refunded_deposit_beside_a_valid_one(
    administrator, consultant, other_consultant, project, pair
):
    survivor, absorbed = pair
    make_deposit(project=project, consultant=consultant, customer=survivor)
    refunded = make_deposit(
        project=project,
        consultant=other_consultant,
        customer=absorbed,
        status=IntentDeposit.Status.REFUNDED,
    )
    _merge(administrator, survivor, absorbed)
    assert IntentDeposit.objects.get(pk=refunded.pk).customer_id == survivor.pk


# Co-buyers: named once per deal, never on their own deal ---------------------------


def _row(co_buyer: CoBuyer) -> tuple:
    co_buyer = CoBuyer.objects.get(pk=co_buyer.pk)
    return (
        co_buyer.pk,
        co_buyer.opportunity_id,
        co_buyer.customer_id,
        co_buyer.added_by_id,
        co_buyer.added_at,
    )


def test_merge_sets_aside_the_survivors_co_buyer_row_on_the_deal_that_moves_to_it(
    administrator, consultant, project, pair
):
    survivor, absorbed = pair
    deal = Opportunity.objects.create(
        customer=absorbed, project=project, consultant=consultant
    )
    named = CoBuyer.objects.create(
        opportunity=deal, customer=survivor, added_by=consultant
    )
    before = _row(named)

    record = _merge(administrator, survivor, absorbed)

    assert Opportunity.objects.get(pk=deal.pk).customer_id == survivor.pk
    assert not CoBuyer.objects.filter(opportunity=deal).exists()
    customer_merge_restore(actor=administrator, record=record)
    assert Opportunity.objects.get(pk=deal.pk).customer_id == absorbed.pk
    assert _row(named) == before


def test_merge_sets_aside_the_absorbeds_co_buyer_row_on_the_survivors_own_deal(
    administrator, consultant, project, pair
):
    # Left on the absorbed record, the deal and its printouts would still name the
    # buyer as their own co-buyer.
    survivor, absorbed = pair
    deal = Opportunity.objects.create(
        customer=survivor, project=project, consultant=consultant
    )
    named = CoBuyer.objects.create(opportunity=deal, customer=absorbed)
    before = _row(named)

    record = _merge(administrator, survivor, absorbed)

    assert not CoBuyer.objects.filter(opportunity=deal).exists()
    customer_merge_restore(actor=administrator, record=record)
    assert _row(named) == before


def test_merge_names_a_co_buyer_once_on_a_deal_both_records_co_buy(
    administrator, consultant, project, pair
):
    survivor, absorbed = pair
    deal = Opportunity.objects.create(
        customer=CustomerFactory(), project=project, consultant=consultant
    )
    kept = CoBuyer.objects.create(opportunity=deal, customer=survivor)
    twin = CoBuyer.objects.create(opportunity=deal, customer=absorbed)
    before = _row(twin)

    record = _merge(administrator, survivor, absorbed)

    assert list(CoBuyer.objects.filter(opportunity=deal)) == [kept]
    customer_merge_restore(actor=administrator, record=record)
    assert _row(twin) == before
    assert CoBuyer.objects.filter(opportunity=deal).count() == 2


def test_the_absorbeds_other_co_buyer_rows_move_and_come_back_on_undo(
    administrator, consultant, project, pair
):
    survivor, absorbed = pair
    deal = Opportunity.objects.create(
        customer=CustomerFactory(), project=project, consultant=consultant
    )
    named = CoBuyer.objects.create(opportunity=deal, customer=absorbed)

    record = _merge(administrator, survivor, absorbed)

    assert CoBuyer.objects.get(pk=named.pk).customer_id == survivor.pk
    assert record.moved["sales.cobuyer"] == [named.pk]
    customer_merge_restore(actor=administrator, record=record)
    assert CoBuyer.objects.get(pk=named.pk).customer_id == absorbed.pk
