from __future__ import annotations

import pytest
from django.urls import reverse

from sales import services
from sales.models import Opportunity, Unit
from tests.factories import CustomerFactory, make_building
from tests.helpers import assert_queries_do_not_grow


@pytest.fixture
def building(db):
    return make_building()


@pytest.fixture
def deal(building, consultant, own_customer):
    return services.opportunity_open(
        actor=consultant, customer=own_customer, project=building.project
    )


def test_consultant_opens_a_deal_from_the_customer_page(
    client, consultant, own_customer, building
):
    client.force_login(consultant)
    url = reverse("sales:opportunity-open", args=[own_customer.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"project": building.project.pk})
    deal = Opportunity.objects.get()
    assert response.url == deal.get_absolute_url()


def test_open_deal_outside_scope_is_404(client, consultant, others_customer):
    client.force_login(consultant)
    assert (
        client.get(
            reverse("sales:opportunity-open", args=[others_customer.pk])
        ).status_code
        == 404
    )


def test_deal_pages_by_scope(
    client, deal, consultant, other_consultant, sales_manager, far_consultant
):
    url = deal.get_absolute_url()
    client.force_login(consultant)
    assert client.get(url).status_code == 200
    client.force_login(other_consultant)
    assert client.get(url).status_code == 404
    client.force_login(sales_manager)
    assert client.get(url).status_code == 200
    client.force_login(far_consultant)
    assert client.get(url).status_code == 404


def test_move_stage_and_lost_needs_a_reason(client, deal, consultant):
    client.force_login(consultant)
    move = reverse("sales:opportunity-move", args=[deal.pk])
    client.post(move, {"stage": "contacted"})
    deal.refresh_from_db()
    assert deal.stage == "contacted"
    client.post(move, {"stage": "lost"})
    deal.refresh_from_db()
    assert deal.stage == "contacted"
    client.post(move, {"stage": "lost", "lost_reason": "price", "note": "太贵"})
    deal.refresh_from_db()
    assert deal.stage == "lost" and deal.lost_reason == "price"


def test_illegal_move_through_the_view_changes_nothing(client, deal, consultant):
    client.force_login(consultant)
    client.post(reverse("sales:opportunity-move", args=[deal.pk]), {"stage": "paid"})
    deal.refresh_from_db()
    assert deal.stage == "new"


def test_losing_a_deal_releases_its_unit(client, deal, consultant, building):
    unit = building.units.first()
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    client.force_login(consultant)
    client.post(
        reverse("sales:opportunity-move", args=[deal.pk]),
        {"stage": "lost", "lost_reason": "financing"},
    )
    unit.refresh_from_db()
    deal.refresh_from_db()
    assert unit.status == "available" and deal.stage == "lost"


def test_subscribe_and_release_from_the_deal_page(client, deal, consultant, building):
    first, second = building.units.order_by("pk")[:2]
    services.unit_reserve(actor=consultant, opportunity=deal, unit=first)
    client.force_login(consultant)
    client.post(reverse("sales:hold-release", args=[deal.pk]), {"confirmed": "1"})
    first.refresh_from_db()
    assert first.status == "available"
    services.unit_reserve(actor=consultant, opportunity=deal, unit=second)
    client.post(
        reverse("sales:opportunity-subscribe", args=[deal.pk]), {"confirmed": "1"}
    )
    second.refresh_from_db()
    assert second.status == "subscribed"


def test_other_consultant_cannot_release_or_subscribe(
    client, deal, consultant, other_consultant, building
):
    services.unit_reserve(
        actor=consultant, opportunity=deal, unit=building.units.first()
    )
    client.force_login(other_consultant)
    assert client.post(reverse("sales:hold-release", args=[deal.pk])).status_code == 404
    assert (
        client.post(reverse("sales:opportunity-subscribe", args=[deal.pk])).status_code
        == 404
    )
    assert Unit.objects.filter(status="reserved").count() == 1


def test_list_and_board_show_visible_deals_only(
    client, deal, consultant, other_consultant, building
):
    services.opportunity_open(
        actor=other_consultant, customer=CustomerFactory(), project=building.project
    )
    client.force_login(consultant)
    assert list(
        client.get(reverse("sales:opportunity-list")).context["page"].items
    ) == [deal]
    columns = client.get(reverse("sales:opportunity-board")).context["columns"]
    assert sum(len(column.deals) for column in columns) == 1
    assert sum(column.count for column in columns) == 1


def test_deal_list_and_board_query_counts_do_not_grow(
    client, sales_manager, consultant, building
):
    client.force_login(sales_manager)

    def grow():
        for _ in range(8):
            services.opportunity_open(
                actor=consultant, customer=CustomerFactory(), project=building.project
            )

    assert_queries_do_not_grow(
        lambda: client.get(reverse("sales:opportunity-list")), grow, at_most=10
    )
    assert_queries_do_not_grow(
        lambda: client.get(reverse("sales:opportunity-board")), grow, at_most=8
    )


@pytest.mark.parametrize(
    "persona", ["service_agent", "marketer", "outsider"], indirect=True
)
def test_roles_outside_sales_are_refused_deal_pages(client, persona, deal):
    client.force_login(persona)
    for url in (
        reverse("sales:opportunity-list"),
        reverse("sales:opportunity-board"),
        deal.get_absolute_url(),
    ):
        assert client.get(url).status_code == 403


def test_manager_lists_deals_per_consultant(
    client, deal, sales_manager, other_consultant, building
):
    theirs = services.opportunity_open(
        actor=other_consultant, customer=CustomerFactory(), project=building.project
    )
    client.force_login(sales_manager)
    url = reverse("sales:opportunity-list")
    assert set(client.get(url).context["page"].items) == {deal, theirs}
    assert list(
        client.get(url, {"consultant": other_consultant.pk}).context["page"].items
    ) == [theirs]
    assert {c.pk for c in client.get(url).context["consultants"]} == {
        deal.consultant_id,
        other_consultant.pk,
    }


def test_after_subscription_the_stage_screen_neither_signs_nor_cancels(
    client, deal, consultant, building
):
    services.unit_reserve(
        actor=consultant, opportunity=deal, unit=building.units.order_by("pk").first()
    )
    services.unit_subscribe(actor=consultant, opportunity=deal)
    client.force_login(consultant)
    page = client.get(deal.get_absolute_url()).content.decode()
    assert reverse("sales:opportunity-move", args=[deal.pk]) not in page
    for stage in ("contracted", "lost", "paid"):
        client.post(
            reverse("sales:opportunity-move", args=[deal.pk]),
            {"stage": stage, "lost_reason": "price"},
        )
        deal.refresh_from_db()
        # Signing is its own step, cancelling a deal change a manager approves.
        assert deal.stage == "subscribed", stage


def test_the_deal_names_its_campaign_and_links_it_for_marketing_only(
    client, deal, consultant, marketer
):
    """A consultant has no marketing desk: the campaign is named, not a 403 link."""
    from datetime import date

    from marketing.models import Campaign

    campaign = Campaign.objects.create(
        name="春季开放日",
        kind="event",
        project=deal.project,
        starts_on=date(2026, 3, 1),
        ends_on=date(2026, 3, 2),
    )
    Opportunity.objects.filter(pk=deal.pk).update(campaign=campaign)
    client.force_login(consultant)
    page = client.get(reverse("sales:opportunity-detail", args=[deal.pk]))
    text = page.content.decode()
    assert "春季开放日" in text and campaign.get_absolute_url() not in text
