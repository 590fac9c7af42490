"""Sales' pages in the owners' portal: my homes, my payments, the documents."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from sales.models import PaymentItem
from sales.portal import STAGE_WORDS
from sales.services.money import receipt_record
from tests.portal_fixtures import make_owner_household

pytestmark = pytest.mark.django_db


def test_my_homes_show_each_unit_its_stage_and_co_buyers(owner_client, owner_household):
    response = owner_client.get(reverse("sales_portal:homes"))
    assert response.status_code == 200
    text = response.content.decode()
    unit = owner_household.unit
    for expected in (
        unit.building.project.name,
        unit.building.name,
        unit.number,
        str(unit.gross_area),
        "吴共买",
    ):
        assert expected in text
    (home,) = response.context["homes"]
    assert home["stage_words"] == str(STAGE_WORDS["subscribed"])
    assert home["stage_words"] in text


def test_a_homes_own_page_adds_its_handover_or_says_when_it_will(
    owner_client, owner_household
):
    """The list links each home to its page; the page says what the list does
    not: the handover and inspection, or, before any, that an SMS will come."""
    homes = owner_client.get(reverse("sales_portal:homes")).content.decode()
    url = reverse("sales_portal:home-detail", args=[owner_household.deal.pk])
    assert f'href="{url}"' in homes and "handover-none" not in homes
    detail = owner_client.get(url).content.decode()
    assert 'data-testid="handover-none"' in detail


def test_my_homes_show_nothing_of_another_household(
    owner_client, other_owner_household
):
    text = owner_client.get(reverse("sales_portal:homes")).content.decode()
    assert other_owner_household.buyer.name not in text
    assert other_owner_household.unit.building.project.name not in text


def test_a_home_of_another_household_is_not_found(owner_client, other_owner_household):
    url = reverse("sales_portal:home-detail", args=[other_owner_household.deal.pk])
    assert owner_client.get(url).status_code == 404


def test_a_home_opens_for_its_owner_and_its_co_buyer(owner_client, owner_household):
    from tests.portal_fixtures import owner_client_for

    url = reverse("sales_portal:home-detail", args=[owner_household.deal.pk])
    assert owner_client.get(url).status_code == 200
    assert owner_client_for(owner_household.co_buyer).get(url).status_code == 200


def test_a_staff_user_is_sent_to_the_owners_sign_in(
    client, consultant, owner_household
):
    client.force_login(consultant)
    response = client.get(reverse("sales_portal:homes"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:sign-in"))


def test_reading_pages_refuse_a_post(owner_client):
    assert owner_client.post(reverse("sales_portal:payments")).status_code == 405


def test_my_payments_show_the_plan_what_is_received_due_and_overdue(
    owner_client, owner_household, consultant
):
    deal = owner_household.deal
    items = list(PaymentItem.objects.filter(opportunity=deal).order_by("sequence"))
    deposit, down, mortgage = items
    receipt_record(
        actor=consultant,
        item=deposit,
        amount=deposit.amount,
        received_on=timezone.localdate() - timedelta(days=39),
        method="transfer",
    )
    response = owner_client.get(reverse("sales_portal:payments"))
    assert response.status_code == 200
    (plan,) = response.context["plans"]
    assert plan.received == Decimal("50000.00")
    assert plan.overdue == down.amount
    assert plan.outstanding == down.amount + mortgage.amount
    assert plan.due_next.pk == mortgage.pk
    text = response.content.decode()
    assert f"¥{down.amount:,.2f}" in text
    assert "¥50,000.00" in text
    assert len(plan.receipts) == 1
    assert plan.documents == ["selection", "subscription"]


def test_my_payments_count_queries_that_do_not_grow_with_homes(
    owner_client, owner, consultant, django_assert_max_num_queries
):
    url = reverse("sales_portal:payments")
    owner_client.get(url)
    with django_assert_max_num_queries(14) as first:
        owner_client.get(url)
    baseline = len(first.captured_queries)
    # A second home of the same buyer, with its own plan.
    more = make_owner_household(
        actor=consultant,
        project_name="安居·二期",
        buyer_name="周业主",
        buyer_mobile="+8613812345555",
        co_buyer_name="周家人",
        co_buyer_mobile="+8613812345556",
    )
    from sales.models import CoBuyer

    CoBuyer.objects.create(opportunity=more.deal, customer=owner)
    response = owner_client.get(url)
    assert len(response.context["plans"]) == 2
    with django_assert_max_num_queries(baseline):
        owner_client.get(url)


def test_my_homes_count_queries_that_do_not_grow_with_homes(
    owner_client, owner, consultant, django_assert_max_num_queries
):
    url = reverse("sales_portal:homes")
    owner_client.get(url)
    with django_assert_max_num_queries(14) as first:
        owner_client.get(url)
    baseline = len(first.captured_queries)
    more = make_owner_household(
        actor=consultant,
        project_name="安居·三期",
        buyer_name="周三",
        buyer_mobile="+8613812346665",
        co_buyer_name="周四",
        co_buyer_mobile="+8613812346666",
    )
    from sales.models import CoBuyer

    CoBuyer.objects.create(opportunity=more.deal, customer=owner)
    assert len(owner_client.get(url).context["homes"]) == 2
    with django_assert_max_num_queries(baseline):
        owner_client.get(url)


def test_the_subscription_agreement_prints_for_the_owner_with_numbers_masked(
    owner_client, owner_household
):
    url = reverse(
        "sales_portal:document", args=[owner_household.deal.pk, "subscription"]
    )
    response = owner_client.get(url)
    assert response.status_code == 200
    assert response.templates[0].name == "sales/print_subscription.html"
    text = response.content.decode()
    assert "周业主" in text and "吴共买" in text
    assert "138****0001" in text
    assert "13812340001" not in text


def test_another_households_document_is_not_found(owner_client, other_owner_household):
    url = reverse(
        "sales_portal:document", args=[other_owner_household.deal.pk, "subscription"]
    )
    assert owner_client.get(url).status_code == 404


def test_an_unknown_document_is_not_found(owner_client, owner_household):
    url = reverse("sales_portal:document", args=[owner_household.deal.pk, "contract"])
    assert owner_client.get(url).status_code == 404
