"""Who withdraws their own request (rejects it: four eyes is about approving) is
not told that it was rejected: they did it (fifth review round)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm_site.models import Notification
from sales import services
from sales.models import DiscountRequest
from sales.services import deposits as deposit_services
from tests.opening_fixtures import make_deposit, opening_project
from tests.sales.test_money import building, held  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_manager_withdrawing_their_own_deposit_refund_is_not_told_it_was_rejected(
    consultant, sales_manager, team
):
    project, _units = opening_project(floors=1, per_floor=1)
    project.teams.add(team)
    deposit = make_deposit(project=project, consultant=consultant)
    refund = deposit_services.deposit_refund_request(
        actor=sales_manager, deposit=deposit, reason="经理代办"
    )
    Notification.objects.all().delete()
    deposit_services.deposit_refund_decide(
        actor=sales_manager, refund=refund, approve=False
    )
    assert not Notification.objects.filter(user=sales_manager).exists()


def test_a_manager_withdrawing_their_own_discount_request_is_not_told_it_was_rejected(
    held,  # noqa: F811
    sales_manager,
):
    request = services.discount_request(
        actor=sales_manager, opportunity=held, percent=Decimal("9"), reason="团购"
    )
    assert request.status == DiscountRequest.Status.PENDING
    Notification.objects.all().delete()
    services.discount_decide(actor=sales_manager, request=request, approve=False)
    assert not Notification.objects.filter(user=sales_manager).exists()
