"""What a buyer who chose on opening day reads in the owners' portal: what is still
to pay (my payments), the selection confirmation she prints, and the documents on
her home's own page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from sales.models import Opportunity, PaymentItem, Selection
from sales.selectors import printable_documents
from sales.services.opening import selection_make
from tests.portal_fixtures import owner_client_for

pytestmark = pytest.mark.django_db

# The reservation wording of an ordinary selection confirmation (zh-hans).
RESERVED_UNTIL = "该房源预留至案场规定的日期"
# The wording of a selection in a session: the contract follows.
CONTRACT_FOLLOWS = (
    "The buyer has chosen the unit above in the selection session and the "
    "subscription is signed, with the deposit of intent applied as its first "
    "payment. The purchase contract follows: it is signed within the period the "
    "sales office states, and the payment plan for the rest of the price is agreed "
    "then."
)


def _url(name: str, *args) -> str:
    return reverse(f"sales_portal:{name}", args=args)


@pytest.fixture
def chosen_online(online):
    """The buyer chose a unit online: a subscription with the deposit applied."""
    session, units, entry, _rival = online
    selection = selection_make(
        session=session, entry=entry, unit=units[0], channel=Selection.Channel.ONLINE
    )
    return selection, owner_client_for(entry.deposit.customer)


# My payments -------------------------------------------------------------------------


def test_what_is_left_to_pay_is_the_price_less_what_was_received(chosen_online):
    selection, client = chosen_online
    deal = selection.opportunity
    response = client.get(_url("payments"))
    assert response.status_code == 200
    (plan,) = response.context["plans"]
    rest = deal.agreed_price - Decimal("50000.00")
    assert rest > 0
    assert plan.received == Decimal("50000.00")
    assert plan.outstanding == rest
    assert plan.unscheduled == rest
    assert plan.overdue == 0
    text = response.content.decode()
    assert 'data-testid="outstanding">¥0.00<' not in text
    assert f'data-testid="outstanding">¥{rest:,.2f}<' in text
    assert 'data-testid="unscheduled"' in text
    assert f"¥{rest:,.2f}" in text


def test_a_full_plan_says_nothing_is_left_to_schedule(owner_client, owner_household):
    response = owner_client.get(_url("payments"))
    (plan,) = response.context["plans"]
    assert plan.unscheduled == 0
    assert plan.outstanding == owner_household.deal.agreed_price
    assert 'data-testid="unscheduled"' not in response.content.decode()


def test_what_is_left_is_never_below_what_the_plan_still_owes(
    owner_client, owner_household
):
    deal = owner_household.deal
    owed = sum(i.outstanding for i in PaymentItem.objects.filter(opportunity=deal))
    # A price lowered after the plan was made: the plan's lines are still owed.
    Opportunity.objects.filter(pk=deal.pk).update(agreed_price=Decimal("1000.00"))
    (plan,) = owner_client.get(_url("payments")).context["plans"]
    assert plan.outstanding == owed
    assert plan.unscheduled == 0


def test_my_payments_of_a_selection_cost_no_more_queries_than_a_full_plan(
    chosen_online, owner_client, django_assert_max_num_queries
):
    owner_client.get(_url("payments"))
    with django_assert_max_num_queries(14) as full:
        owner_client.get(_url("payments"))
    baseline = len(full.captured_queries)
    _selection, client = chosen_online
    client.get(_url("payments"))
    with django_assert_max_num_queries(baseline):
        client.get(_url("payments"))


# The selection confirmation ----------------------------------------------------------


def test_the_confirmation_of_a_selection_says_what_happened(chosen_online):
    selection, client = chosen_online
    deal = selection.opportunity
    response = client.get(_url("document", deal.pk, "selection"))
    assert response.status_code == 200
    text = response.content.decode()
    assert RESERVED_UNTIL not in text
    assert gettext(CONTRACT_FOLLOWS) in text
    assert selection.session.name in text
    assert 'data-testid="selection-position">1' in text
    assert gettext("chosen online") in text
    chosen_at = timezone.localtime(selection.selected_at).strftime("%Y-%m-%d %H:%M")
    assert chosen_at in text
    assert 'data-testid="deposit-applied">¥50,000' in text
    rest = deal.agreed_price - Decimal("50000.00")
    assert f'data-testid="still-to-pay">¥{rest:,.0f}' in text
    # The buyer's number is masked as ever.
    assert deal.customer.mobile not in text


def test_a_selection_chosen_on_site_says_so(opening_on_site):
    selection, client = opening_on_site
    text = client.get(
        _url("document", selection.opportunity.pk, "selection")
    ).content.decode()
    assert gettext("chosen on site") in text and RESERVED_UNTIL not in text


@pytest.fixture
def opening_on_site(online, consultant):
    session, units, entry, _rival = online
    session.mode = session.Mode.BOTH
    session.save(update_fields=["mode"])
    selection = selection_make(
        session=session,
        entry=entry,
        unit=units[1],
        channel=Selection.Channel.ON_SITE,
        actor=consultant,
    )
    return selection, owner_client_for(entry.deposit.customer)


def test_the_staff_print_of_a_selected_deal_says_the_same(
    chosen_online, client, consultant
):
    selection, _owner = chosen_online
    client.force_login(consultant)
    url = reverse(
        "sales:opportunity-print", args=[selection.opportunity.pk, "selection"]
    )
    text = client.get(url).content.decode()
    assert selection.session.name in text and RESERVED_UNTIL not in text


def test_a_contracted_selection_no_longer_says_the_contract_follows(
    chosen_online, consultant
):
    from sales.services import opportunity_contract

    selection, client = chosen_online
    opportunity_contract(actor=consultant, opportunity=selection.opportunity)
    text = client.get(
        _url("document", selection.opportunity.pk, "selection")
    ).content.decode()
    assert 'data-testid="selection-words"' in text
    assert gettext(CONTRACT_FOLLOWS) not in text and RESERVED_UNTIL not in text


def test_an_ordinary_reservation_keeps_its_wording(owner_client, owner_household):
    text = owner_client.get(
        _url("document", owner_household.deal.pk, "selection")
    ).content.decode()
    assert RESERVED_UNTIL in text
    assert 'data-testid="selection-position"' not in text


def test_a_cancelled_selection_no_longer_names_the_session(chosen_online):
    selection, client = chosen_online
    Selection.objects.filter(pk=selection.pk).update(cancelled_at=timezone.now())
    text = client.get(
        _url("document", selection.opportunity.pk, "selection")
    ).content.decode()
    assert selection.session.name not in text


# The home's own page -----------------------------------------------------------------


def test_the_homes_page_offers_the_documents_my_payments_offers(chosen_online):
    selection, client = chosen_online
    deal = selection.opportunity
    text = client.get(_url("home-detail", deal.pk)).content.decode()
    documents = printable_documents(deal)
    assert documents == ["selection", "subscription"]
    for name in documents:
        href = _url("document", deal.pk, name)
        assert f'href="{href}"' in text
        assert f'data-testid="document-{name}"' in text


def test_the_confirmation_page_sends_the_buyer_where_the_documents_are(chosen_online):
    selection, client = chosen_online
    response = client.get(_url("opening-selection", selection.entry_id, selection.pk))
    text = response.content.decode()
    assert _url("home-detail", selection.opportunity_id) in text
    home = client.get(_url("home-detail", selection.opportunity_id)).content.decode()
    assert _url("document", selection.opportunity_id, "selection") in home
