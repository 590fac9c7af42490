"""A change of buyer (更名) is no side door into a colleague's protection: a deal is
not handed to a customer another consultant protects at its project, neither when
the change is asked nor when it is approved (sales.services.changes)."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.translation import gettext

from sales import services
from sales.models import DealChange
from tests.factories import CustomerFactory, make_building, register_at

pytestmark = pytest.mark.django_db

PROTECTED = "This customer is protected at this project."


@pytest.fixture
def here():
    return make_building(project_name="一期")


@pytest.fixture
def elsewhere():
    return make_building(project_name="二期").project


@pytest.fixture
def deal(here, consultant, own_customer):
    deal = services.opportunity_open(
        actor=consultant, customer=own_customer, project=here.project
    )
    services.unit_reserve(
        actor=consultant, opportunity=deal, unit=here.units.order_by("pk").first()
    )
    services.unit_subscribe(actor=consultant, opportunity=deal)
    deal.refresh_from_db()
    return deal


@pytest.fixture
def relative(consultant, elsewhere):
    """The consultant may change this customer (registered at another project)."""
    customer = CustomerFactory(mobile="+8613611112222", assigned_consultant=None)
    register_at(customer, consultant, elsewhere)
    return customer


def test_a_change_of_buyer_to_a_colleague_s_protected_customer_is_refused(
    deal, consultant, other_consultant, relative
):
    register_at(relative, other_consultant, deal.project)
    with pytest.raises(ValidationError) as refused:
        services.deal_change_request(
            actor=consultant,
            opportunity=deal,
            kind="change_buyer",
            reason="更名给亲戚",
            new_customer=relative,
        )
    assert refused.value.messages == [gettext(PROTECTED)]
    assert not DealChange.objects.filter(opportunity=deal).exists()


def test_the_change_form_says_the_new_buyer_is_protected_and_asks_nothing(
    client, deal, consultant, other_consultant, sales_manager, relative
):
    from crm_site.models import Notification

    register_at(relative, other_consultant, deal.project)
    client.force_login(consultant)
    response = client.post(
        reverse("sales:deal-change-create", args=[deal.pk]),
        {
            "kind": "change_buyer",
            "new_buyer_mobile": "13611112222",
            "reason": "更名给亲戚",
        },
    )
    assert response.status_code == 302
    told = [str(m) for m in get_messages(response.wsgi_request)]
    assert told == [gettext(PROTECTED)]
    assert not DealChange.objects.filter(opportunity=deal).exists()
    assert not Notification.objects.filter(user=sales_manager).exists()


def test_a_buyer_the_deal_s_own_consultant_protects_may_take_the_deal(
    deal, consultant, relative
):
    register_at(relative, consultant, deal.project)
    change = services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_buyer",
        reason="更名给亲戚",
        new_customer=relative,
    )
    assert change.status == DealChange.Status.PENDING


def test_protection_is_judged_for_the_deal_s_consultant_whoever_asks(
    deal, consultant, sales_manager, relative
):
    """A sales manager asking on the consultant's behalf: the consultant protects the
    new buyer at the project, so the deal stays theirs and may change its buyer."""
    register_at(relative, consultant, deal.project)
    change = services.deal_change_request(
        actor=sales_manager,
        opportunity=deal,
        kind="change_buyer",
        reason="更名给亲戚",
        new_customer=relative,
    )
    assert change.status == DealChange.Status.PENDING


def test_a_colleague_s_protection_since_the_request_refuses_the_approval(
    deal, consultant, other_consultant, sales_manager, own_customer, relative
):
    change = services.deal_change_request(
        actor=consultant,
        opportunity=deal,
        kind="change_buyer",
        reason="更名给亲戚",
        new_customer=relative,
    )
    register_at(relative, other_consultant, deal.project)
    with pytest.raises(ValidationError) as refused:
        services.deal_change_decide(actor=sales_manager, change=change, approve=True)
    assert refused.value.messages == [gettext(PROTECTED)]
    deal.refresh_from_db()
    change.refresh_from_db()
    assert deal.customer == own_customer
    assert change.status == DealChange.Status.PENDING
    # The manager may still refuse it.
    services.deal_change_decide(actor=sales_manager, change=change, approve=False)
    change.refresh_from_db()
    assert change.status == DealChange.Status.REJECTED
