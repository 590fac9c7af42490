"""A subscription ends only through an approved cancellation, and the stage form's
move is checked again against the locked deal (real PostgreSQL, real threads)."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from sales import services, views
from sales.forms import StageMoveForm
from sales.models import DealChange, Opportunity, StageChange, Unit
from tests.factories import make_building


def _reserved(consultant, customer) -> tuple[Opportunity, Unit]:
    building = make_building(floors=1, per_floor=1)
    unit = building.units.get()
    deal = services.opportunity_open(
        actor=consultant, customer=customer, project=building.project
    )
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    return deal, unit


@pytest.mark.django_db(transaction=True)
def test_a_deal_subscribed_while_its_stage_form_posts_lost_stays_subscribed(
    client, consultant, own_customer, monkeypatch
):
    """Tab 1 posts Move to: Lost on the reserved deal; tab 2 records the subscription
    after the form was checked and before the deal is locked."""
    deal, unit = _reserved(consultant, own_customer)

    class SubscribedMeanwhile(StageMoveForm):
        def is_valid(self) -> bool:
            valid = super().is_valid()

            def subscribe() -> None:
                try:
                    services.unit_subscribe(actor=consultant, opportunity=deal)
                finally:
                    connection.close()

            other = threading.Thread(target=subscribe)
            other.start()
            other.join()
            return valid

    monkeypatch.setattr(views, "StageMoveForm", SubscribedMeanwhile)
    client.force_login(consultant)
    response = client.post(
        reverse("sales:opportunity-move", args=[deal.pk]),
        {"stage": "lost", "lost_reason": "price", "note": "太贵"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )

    deal.refresh_from_db()
    unit.refresh_from_db()
    assert deal.stage == Opportunity.Stage.SUBSCRIBED
    assert unit.status == Unit.Status.SUBSCRIBED
    assert not StageChange.objects.filter(opportunity=deal, to_stage="lost").exists()
    shown = [str(m) for m in response.context["messages"]]
    assert shown == ["A deal cannot move from Subscribed to Lost."]


@pytest.fixture
def subscribed(db, consultant, own_customer) -> Opportunity:
    deal, _unit = _reserved(consultant, own_customer)
    services.unit_subscribe(actor=consultant, opportunity=deal)
    deal.refresh_from_db()
    return deal


def test_a_subscription_is_lost_only_through_an_approved_change(subscribed, consultant):
    with pytest.raises(ValidationError):
        subscribed.move_to("lost", actor=consultant, reason="other")
    assert not subscribed.can_move_to("lost")
    assert StageMoveForm(opportunity=subscribed).fields["stage"].choices == []
    pending = DealChange(opportunity=subscribed, status="pending")
    with pytest.raises(ValidationError):
        subscribed.move_to("lost", actor=consultant, reason="other", change=pending)
    subscribed.refresh_from_db()
    assert subscribed.stage == Opportunity.Stage.SUBSCRIBED


def test_an_approved_cancellation_still_ends_a_subscription(
    subscribed, consultant, sales_manager
):
    unit = subscribed.unit
    change = services.deal_change_request(
        actor=consultant, opportunity=subscribed, kind="cancel", reason="资金问题"
    )
    services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    subscribed.refresh_from_db()
    unit.refresh_from_db()
    assert (subscribed.stage, unit.status) == ("lost", "available")


def test_the_stage_form_posting_lost_on_a_subscribed_deal_changes_nothing(
    client, subscribed, consultant
):
    client.force_login(consultant)
    client.post(
        reverse("sales:opportunity-move", args=[subscribed.pk]),
        {"stage": "lost", "lost_reason": "price"},
    )
    subscribed.refresh_from_db()
    subscribed.unit.refresh_from_db()
    assert subscribed.stage == Opportunity.Stage.SUBSCRIBED
    assert subscribed.unit.status == Unit.Status.SUBSCRIBED
