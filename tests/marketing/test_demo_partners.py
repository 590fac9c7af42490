from __future__ import annotations

import random
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from crm_site.management.commands.demo_data import DEMO_PASSWORD, DEMO_USERS
from crm_site.models import User
from marketing import demo_partners
from marketing.models import (
    Broker,
    ChannelPartner,
    Commission,
    PartnerRegistration,
    Referral,
    ReferralReward,
)


@pytest.mark.django_db
def test_demo_partners_seed_runs_twice_and_covers_every_state():
    call_command("demo_data", customers=120, stdout=StringIO())
    users = {name: User.objects.get(username=name) for name, *_rest in DEMO_USERS}
    demo_partners.seed(random.Random(7), users)
    counts = (
        PartnerRegistration.objects.count(),
        Referral.objects.count(),
        Commission.objects.count(),
        User.objects.count(),
    )
    demo_partners.seed(random.Random(7), users)
    assert counts == (
        PartnerRegistration.objects.count(),
        Referral.objects.count(),
        Commission.objects.count(),
        User.objects.count(),
    )
    broker = authenticate(
        RequestFactory().post("/accounts/login/"),
        username="broker",
        password=DEMO_PASSWORD,
    )
    assert broker is not None and broker.has_perm("marketing.partner_portal")
    assert PartnerRegistration.objects.count() == 5
    assert set(Commission.objects.values_list("status", flat=True)) == {"due", "paid"}
    assert sorted(ReferralReward.objects.values_list("status", flat=True)) == [
        "approved",
        "due",
        "paid",
    ]
    assert Referral.objects.filter(reward__isnull=True).count() == 2


@pytest.mark.django_db
def test_demo_broker_leaves_an_existing_user_named_broker_as_it_was():
    from tests.factories import UserFactory

    partner = ChannelPartner.objects.create(
        name=demo_partners.PARTNER_NAME,
        contact_name="周经理",
        contact_phone="+8613512340000",
        commission_value=Decimal("1.50"),
    )
    real = UserFactory(username="broker", email="broker@anju-real.cn")
    assert demo_partners._broker(partner, DEMO_PASSWORD) is None
    real.refresh_from_db()
    assert not real.groups.exists()
    assert not real.check_password(DEMO_PASSWORD)
    assert not Broker.objects.exists()


@pytest.mark.django_db
def test_demo_broker_is_created_with_its_role_and_the_demo_password_once():
    partner = ChannelPartner.objects.create(
        name=demo_partners.PARTNER_NAME,
        contact_name="周经理",
        contact_phone="+8613512340000",
        commission_value=Decimal("1.50"),
    )
    broker = demo_partners._broker(partner, DEMO_PASSWORD)
    assert broker.check_password(DEMO_PASSWORD)
    assert broker.has_perm("marketing.partner_portal")
    assert demo_partners._broker(partner, DEMO_PASSWORD) == broker
    assert Broker.objects.get().user == broker
