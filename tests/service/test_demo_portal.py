"""The demo owner of the owners' portal (service.demo_portal)."""

from __future__ import annotations

import logging
import random
import re

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from crm_site import portal
from customers.models import Customer
from customers.services.portal import portal_codes_send_pending
from service import demo_portal
from service.models import HandoverAppointment
from tests.factories import make_building

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_users(consultant, service_manager):
    make_building(project_name="安居·御景湾", floors=4, per_floor=2, skipped=())
    return {"consultant": consultant, "service_manager": service_manager}


def test_the_demo_owner_is_seeded_once_with_a_co_buyer_payments_and_a_handover(
    demo_users,
):
    demo_portal.seed(random.Random(1), demo_users)
    demo_portal.seed(random.Random(1), demo_users)
    owner = Customer.objects.get(mobile=demo_portal.DEMO_OWNER_MOBILE)
    spouse = Customer.objects.get(mobile=demo_portal.DEMO_CO_BUYER_MOBILE)
    assert portal.household_ids(owner) == {owner.pk, spouse.pk}
    assert portal.eligible_ids([owner.pk, spouse.pk]) == {owner.pk, spouse.pk}
    assert HandoverAppointment.objects.filter(customer=owner).count() == 1


@override_settings(SMS_BACKEND="crm_site.messaging.LogSmsBackend")
def test_the_demo_owner_signs_in_with_the_code_from_the_log(demo_users, caplog):
    demo_portal.seed(random.Random(1), demo_users)
    client = Client()
    client.post(reverse("portal:sign-in"), {"mobile": "138 0013 8888"})
    with caplog.at_level(logging.INFO, logger="anju.sms"):
        portal_codes_send_pending()
    code = re.search(r"138\*\*\*\*8888: (\d{6})", caplog.text).group(1)
    client.post(reverse("portal:sign-in-code"), {"code": code})
    response = client.get(reverse("sales_portal:payments"))
    assert response.status_code == 200
    assert "林晓" in client.get(reverse("portal:home")).content.decode()
    assert response.context["plans"][0].overdue > 0
