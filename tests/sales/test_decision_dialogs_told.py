"""The decision dialogs name who will be told, as the notice is sent: the deal's
consultant now, when the requester no longer sees the deal."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sales import confirmations, services
from tests.sales.test_notice_recipients import _reassign, building, held  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("approve", [True, False])
def test_the_discount_dialog_names_who_will_be_told_after_a_reassignment(
    held,  # noqa: F811
    consultant,
    other_consultant,
    sales_manager,
    own_customer,
    approve,
):
    item = services.discount_request(
        actor=consultant, opportunity=held, percent=Decimal("3"), reason="团购"
    )
    _reassign(own_customer, held.project, sales_manager, other_consultant)
    item.refresh_from_db()
    dialog = confirmations.discount_decision(item, approve=approve)
    assert other_consultant.display_name in dialog.consequence
    assert consultant.display_name not in dialog.consequence


def test_the_change_reject_dialog_names_who_will_be_told_after_a_reassignment(
    held,  # noqa: F811
    consultant,
    other_consultant,
    sales_manager,
    own_customer,
):
    services.unit_subscribe(actor=consultant, opportunity=held)
    held.refresh_from_db()
    change = services.deal_change_request(
        actor=consultant, opportunity=held, kind="cancel", reason="客户资金问题"
    )
    _reassign(own_customer, held.project, sales_manager, other_consultant)
    change.refresh_from_db()
    dialog = confirmations.change_decision(change, approve=False)
    assert other_consultant.display_name in dialog.consequence
    assert consultant.display_name not in dialog.consequence
