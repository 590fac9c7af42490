from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from crm_site.management.commands.demo_data import DEMO_PASSWORD, DEMO_USERS
from crm_site.models import User
from customers.models import Customer
from customers.phones import normalize_phone


@pytest.mark.django_db
def test_demo_data_fills_every_app_with_valid_records_and_nothing_twice():
    """One run of the seed (about 20 s) checked for everything it must give."""
    from marketing.models import Campaign, Response
    from service.models import HandoverBatch, SurveyResponse

    call_command("demo_data", customers=120, stdout=StringIO())
    counts = (User.objects.count(), Customer.objects.count())
    assert counts[1] >= 115  # a rare random twin number is skipped, never duplicated
    for customer in Customer.objects.all():
        assert normalize_phone(customer.mobile, mobile_only=True) == customer.mobile
        assert all("\u4e00" <= ch <= "\u9fff" for ch in customer.name)
    assert HandoverBatch.objects.exists()
    assert SurveyResponse.objects.count() >= 10
    assert Campaign.objects.count() >= 3
    assert Response.objects.exists()
    for username, _family, _given, role, _team in DEMO_USERS:
        user = authenticate(
            RequestFactory().post("/accounts/login/"),
            username=username,
            password=DEMO_PASSWORD,
        )
        assert user is not None, username
        assert role in user.roles
    # A second run adds nothing.
    call_command("demo_data", customers=120, stdout=StringIO())
    assert (User.objects.count(), Customer.objects.count()) == counts
