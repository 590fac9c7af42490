from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from sales import services
from sales.models import DealChange, Unit
from tests.factories import CustomerFactory, make_building


@pytest.fixture
def building(db):
    return make_building()


@pytest.fixture
def deal(building, consultant, own_customer):
    deal = services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    unit = building.units.order_by("floor", "position").first()
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    services.unit_subscribe(actor=consultant, opportunity=deal)
    deal.refresh_from_db()
    return deal


def test_cancellation_frees_the_unit_only_after_approval(
    deal, consultant, sales_manager
):
    unit = deal.unit
    change = services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="客户资金问题"
    )
    unit.refresh_from_db()
    assert unit.status == "subscribed"
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    unit.refresh_from_db()
    deal.refresh_from_db()
    assert unit.status == "available" and deal.stage == "lost"
    change.refresh_from_db()
    assert change.before["unit"] == unit.pk


def test_change_of_unit_moves_the_subscription_and_reprices(
    deal, consultant, sales_manager, building
):
    old = deal.unit
    new = building.units.filter(status="available").order_by("-floor").first()
    change = services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_unit",
        reason="换高层",
        new_unit=new,
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    old.refresh_from_db()
    new.refresh_from_db()
    deal.refresh_from_db()
    assert (old.status, new.status) == ("available", "subscribed")
    assert deal.unit == new and deal.agreed_price == new.list_price


def test_change_of_unit_is_refused_if_the_new_unit_was_sold_meanwhile(
    deal, consultant, sales_manager, building
):
    new = building.units.filter(status="available").first()
    change = services.deal_change_request(
        actor=consultant, opportunity=deal, kind="change_unit", reason="x", new_unit=new
    )
    Unit.objects.filter(pk=new.pk).update(status="reserved")
    with pytest.raises(services.UnitUnavailable):
        services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    deal.refresh_from_db()
    assert deal.unit != new


def test_change_of_buyer_lands_on_both_timelines(deal, consultant, sales_manager):
    spouse = CustomerFactory(name="李太太", assigned_consultant=consultant)
    change = services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_buyer",
        reason="更名",
        new_customer=spouse,
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    deal.refresh_from_db()
    assert deal.customer == spouse
    assert spouse.interactions.filter(kind="system").exists()


def test_rejected_change_changes_nothing_and_one_pending_at_a_time(
    deal, consultant, sales_manager
):
    change = services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="x"
    )
    with pytest.raises(ValidationError):
        services.deal_change_request(
            actor=consultant, opportunity=deal, kind="cancel", reason="y"
        )
    services.deal_change_decide(actor=sales_manager, change=change, approve=False)
    deal.refresh_from_db()
    assert deal.stage == "subscribed" and deal.unit.status == "subscribed"


def test_only_subscribed_deals_can_be_changed(building, consultant, own_customer):
    open_deal = services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )
    with pytest.raises(ValidationError):
        services.deal_change_request(
            actor=consultant, opportunity=open_deal, kind="cancel", reason="x"
        )


def test_change_pages(client, deal, consultant, sales_manager):
    client.force_login(consultant)
    response = client.post(
        reverse("sales:deal-change-create", args=[deal.pk]),
        {"kind": "cancel", "reason": "资金"},
    )
    assert response.status_code == 302
    change = DealChange.objects.get()
    assert (
        client.post(
            reverse("sales:deal-change-decide", args=[change.pk]),
            {"decision": "approve"},
        ).status_code
        == 403
    )
    client.force_login(sales_manager)
    assert change in list(client.get(reverse("sales:approval-list")).context["changes"])
    client.post(
        reverse("sales:deal-change-decide", args=[change.pk]),
        {"decision": "approve", "note": "同意", "confirmed": "1"},
    )
    change.refresh_from_db()
    assert change.status == "approved"


def test_change_form_refuses_missing_unit_and_unknown_buyer(client, deal, consultant):
    client.force_login(consultant)
    client.post(
        reverse("sales:deal-change-create", args=[deal.pk]),
        {"kind": "change_unit", "reason": "x"},
    )
    client.post(
        reverse("sales:deal-change-create", args=[deal.pk]),
        {"kind": "change_buyer", "reason": "x", "new_buyer_mobile": "186 0000 0001"},
    )
    assert not DealChange.objects.exists()


def test_a_contract_waits_while_a_change_of_the_subscription_waits(
    deal, consultant, sales_manager
):
    """A 退房 asked at subscription, then the contract signed before the manager
    decides: the approval would cancel a signed contract under the contracted rule.
    The contract waits for the decision."""
    change = services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="客户资金问题"
    )
    with pytest.raises(ValidationError):
        services.opportunity_contract(actor=consultant, opportunity=deal)
    deal.refresh_from_db()
    assert deal.stage == "subscribed"
    services.deal_change_decide(actor=sales_manager, change=change, approve=False)
    services.opportunity_contract(actor=consultant, opportunity=deal)
    deal.refresh_from_db()
    assert deal.stage in ("contracted", "paid")
