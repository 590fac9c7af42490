from __future__ import annotations

import random

from service import demo_repairs
from service.models import OwnerLetter, ServiceRequest
from tests.service.conftest import sell


def test_demo_repairs_run_twice_and_fill_the_portal_queue_and_the_mailbox(
    building, consultant, service_agent, service_manager
):
    deal = sell(building.units.order_by("pk").first(), consultant)
    users = {"service_agent": service_agent, "service_manager": service_manager}
    demo_repairs.seed(random.Random(3), users)
    demo_repairs.seed(random.Random(3), users)
    portal = ServiceRequest.objects.filter(channel="portal", customer=deal.customer)
    assert portal.count() == 2
    assert portal.filter(receiver=service_agent, status="in_progress").count() == 1
    assert portal.filter(receiver__isnull=True).count() == 1
    assert OwnerLetter.objects.get().customer == deal.customer
