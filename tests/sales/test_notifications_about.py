"""Notices that name a buyer but link to a queue (approvals, refunds) say which
customer they are about (crm_site.notifications.ABOUT_KEY), so a personal-information
request finds them and anonymising scrubs the name."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm_site.models import Notification
from crm_site.notifications import ABOUT_KEY
from customers.services import customer_anonymise
from sales import services
from sales.models import Opportunity
from sales.services import deposits
from tests.factories import CustomerFactory, make_building
from tests.opening_fixtures import opening_project

pytestmark = pytest.mark.django_db

NAME = "欧阳娜娜"


def _anonymise(administrator, customer, capture) -> None:
    with capture(execute=True):
        customer_anonymise(
            actor=administrator, customer=customer, reference="PI-7", reason="本人要求"
        )


def _naming(name: str) -> list[str]:
    return [n.text for n in Notification.objects.all() if name in n.text]


@pytest.fixture
def buyer(consultant):
    return CustomerFactory(name=NAME, assigned_consultant=consultant)


def test_anonymising_scrubs_the_managers_discount_notification_naming_the_buyer(
    administrator, consultant, sales_manager, buyer, django_capture_on_commit_callbacks
):
    building = make_building()
    deal = services.opportunity_open(
        actor=consultant, customer=buyer, project=building.project
    )
    unit = building.units.order_by("pk").first()
    hold = services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    # Beyond the project's limit: a sales manager is told, by the buyer's name.
    services.discount_request(
        actor=consultant, opportunity=deal, percent=Decimal("40"), reason="老客户"
    )
    told = Notification.objects.get(user=sales_manager)
    assert NAME in told.text and told.params[ABOUT_KEY] == [buyer.pk]
    services.unit_release(actor=consultant, hold=hold)
    deal.refresh_from_db()
    deal.move_to(Opportunity.Stage.LOST, actor=consultant, reason="price")
    _anonymise(administrator, buyer, django_capture_on_commit_callbacks)
    assert _naming(NAME) == []


def test_the_change_request_notice_says_which_customer_it_names(
    consultant, sales_manager, buyer
):
    """A subscribed deal keeps the buyer from being anonymised; what matters is that
    the notice (linking to the approvals queue) names them among its customers."""
    building = make_building()
    deal = services.opportunity_open(
        actor=consultant, customer=buyer, project=building.project
    )
    unit = building.units.order_by("pk").first()
    services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    services.unit_subscribe(actor=consultant, opportunity=deal)
    services.deal_change_request(
        actor=consultant, opportunity=deal, kind="cancel", reason="客户资金问题"
    )
    told = Notification.objects.get(user=sales_manager)
    assert NAME in told.text
    assert told.url == "/sales/approvals/"
    assert told.params[ABOUT_KEY] == [buyer.pk]


@pytest.mark.parametrize("approve", [True, False])
def test_anonymising_scrubs_the_deposit_refund_notices_naming_the_buyer(
    administrator,
    consultant,
    sales_manager,
    buyer,
    approve,
    django_capture_on_commit_callbacks,
):
    project, _units = opening_project()
    deposit = deposits.deposit_take(
        actor=consultant,
        project=project,
        customer=buyer,
        receipt_number="R-001",
        method="transfer",
    )
    refund = deposits.deposit_refund_request(
        actor=consultant, deposit=deposit, reason="客户放弃"
    )
    deposits.deposit_refund_decide(actor=sales_manager, refund=refund, approve=approve)
    # The managers asked (a link to the refunds queue), the consultant answered.
    notices = list(Notification.objects.filter(user__in=[consultant, sales_manager]))
    assert {n.user for n in notices} == {consultant, sales_manager}
    assert all(NAME in n.text and n.params[ABOUT_KEY] == [buyer.pk] for n in notices)
    if approve:
        # A deposit still valid keeps the buyer from being anonymised; a refunded one
        # and a lost deal do not.
        deal = Opportunity.objects.get(customer=buyer)
        deal.move_to(Opportunity.Stage.LOST, actor=consultant, reason="other")
        _anonymise(administrator, buyer, django_capture_on_commit_callbacks)
        assert _naming(NAME) == []
