"""What a channel partner's broker is told when sales changes the customer they
registered: the name they gave, never the CRM's record, its other name or which
consultant holds it (fifth review round)."""

from __future__ import annotations

import pytest

from crm_site.models import Notification
from customers import merge_handlers
from customers.models import MergeRecord
from customers.services.merge import customer_merge, customer_merge_restore
from marketing.services.partners import partner_registration_create
from sales.models import Registration
from sales.services.ownership import registration_create
from tests.factories import CustomerFactory
from tests.marketing.conftest import broker, building, partner, project  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def contest(broker, partner, project, consultant, sales_manager):  # noqa: F811
    """The CRM holds 张三 (a consultant's, registered first); a broker registers the
    same person by another number as 冯一; a manager merges 冯一's record into
    张三's: the consultant's earlier protection wins, the broker's ends."""
    merge_handlers.connect()
    held = CustomerFactory(name="张三", mobile="+8613911110000")
    registration_create(
        actor=consultant,
        customer=held,
        project=project,
        consultant=consultant,
        basis=Registration.Basis.VISIT,
    )
    link = partner_registration_create(
        broker=broker,
        partner=partner,
        project=project,
        name="冯一",
        mobile="+8613911112222",
    )
    absorbed = link.registration.customer
    Notification.objects.all().delete()
    customer_merge(actor=sales_manager, survivor=held, absorbed=absorbed, choices={})
    return held, absorbed


def _told(user) -> str:
    return " ".join(n.text for n in Notification.objects.filter(user=user))


def test_a_broker_whose_registration_a_merge_ends_learns_no_crm_names(
    contest,
    broker,  # noqa: F811
    consultant,
):
    _held, _absorbed = contest
    assert Registration.objects.filter(
        consultant=broker, status=Registration.Status.ENDED
    ).exists()
    told = _told(broker)
    assert "冯一" in told  # which of their customers
    assert "张三" not in told
    assert consultant.display_name not in told


def test_undoing_the_merge_tells_the_broker_no_crm_names(
    contest,
    broker,  # noqa: F811
    consultant,
    sales_manager,
):
    _held, absorbed = contest
    Notification.objects.all().delete()
    customer_merge_restore(
        actor=sales_manager, record=MergeRecord.objects.get(absorbed=absorbed)
    )
    told = _told(broker)
    assert "张三" not in told
    assert consultant.display_name not in told
