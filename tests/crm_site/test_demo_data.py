from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from crm_site.management.commands.demo_data import DEMO_PASSWORD, DEMO_USERS
from crm_site.models import User
from customers.models import Customer
from customers.phones import normalize_phone
from tests.factories import UserFactory


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
    _opening_day_shown()
    for username, _family, _given, role, _team in DEMO_USERS:
        user = authenticate(
            RequestFactory().post("/accounts/login/"),
            username=username,
            password=DEMO_PASSWORD,
        )
        assert user is not None, username
        assert role in user.roles
    # A second run (run.sh's second start) adds nothing, also once an administrator
    # has added users of their own and changed a demo login's roles: it touches no
    # user it did not create in that run.
    colleague = UserFactory(username="wang.fang")
    consultant = User.objects.get(username="consultant")
    consultant.groups.clear()
    # A demo database loaded before the projects' rules existed gets them, and its
    # contracted deals their commission.
    from sales.models import Commission, CommissionRule

    Commission.objects.all().delete()
    CommissionRule.objects.all().delete()
    call_command("demo_data", customers=120, stdout=StringIO())
    assert CommissionRule.objects.count() == 2 and Commission.objects.exists()
    assert (User.objects.count() - 1, Customer.objects.count()) == counts
    assert not consultant.groups.exists()
    assert not colleague.groups.exists()


def _opening_day_shown() -> None:
    """An open session by queue number whose first buyer may choose online, a
    lottery drawn that anyone recomputes from its seed, deposits that take no part,
    commissions, and a change of unit waiting for approval."""
    from crm_site import portal
    from customers.services import existing_with_mobile
    from sales.demo_opening import ONLINE_BUYER_MOBILE
    from sales.models import (
        Commission,
        DealChange,
        DepositRefund,
        IntentDeposit,
        Selection,
        SelectionSession,
    )
    from sales.services.lottery import lottery_order

    queue = SelectionSession.objects.get(name="B栋首开")
    assert (queue.status, queue.called_position) == ("open", 4)
    assert queue.allows_online and queue.entries.count() == 8
    first = queue.entries.get(position=1)
    online = existing_with_mobile(ONLINE_BUYER_MOBILE)
    assert first.deposit.customer == online and portal.is_eligible(online)
    assert (
        Selection.objects.filter(
            session=queue, channel="on_site", opportunity__stage="subscribed"
        ).count()
        == 2
    )
    drawn = SelectionSession.objects.get(name="C栋摇号选房")
    assert drawn.status == "ordered" and drawn.drawn_at is not None
    entries = dict(drawn.entries.values_list("deposit__queue_number", "position"))
    order = lottery_order(drawn.seed, entries)
    assert [entries[number] for number in order] == list(range(1, len(entries) + 1))
    assert not IntentDeposit.objects.filter(
        entries__session__in=[queue, drawn], qualification="pending"
    ).exists()
    assert {refund.status for refund in DepositRefund.objects.all()} == {
        "approved",
        "pending",
    }
    assert Commission.objects.exists()
    assert DealChange.objects.filter(status="pending", kind="change_unit").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["admin", "zhang.wei"])
def test_demo_data_refuses_a_database_that_holds_users_it_did_not_create(username):
    """A real database (a real administrator, or anyone): no demo logins with the
    published password, no demo role for a namesake, no demo customers."""
    real = User.objects.create_superuser(
        username=username, email=f"{username}@anju-real.cn", password="real-secret-1"
    )
    with pytest.raises(CommandError, match=rf"{username}.*--force"):
        call_command("demo_data", customers=10, stdout=StringIO())
    assert list(User.objects.all()) == [real]
    assert not Customer.objects.exists()
    real.refresh_from_db()
    assert real.check_password("real-secret-1") and not real.groups.exists()


@pytest.mark.django_db
def test_demo_data_with_force_leaves_the_users_that_were_there_as_they_were(
    monkeypatch,
):
    from crm_site.management.commands import demo_data
    from crm_site.roles import Role

    # The users are the command's own work; the apps' seeders (~15 s, seeded whole
    # by the test above) add nothing to what this test checks.
    monkeypatch.setattr(demo_data, "DEMO_SEEDERS", [])

    namesake = UserFactory(username="executive", email="zhao.lei@anju-real.cn")
    admin = UserFactory(username="admin", email="it@anju-real.cn")
    out = StringIO()
    call_command("demo_data", customers=40, force=True, stdout=out)
    for user in (namesake, admin):
        user.refresh_from_db()
        assert not user.groups.exists(), user.username
        assert not user.is_superuser and not user.is_staff
        assert not user.check_password(DEMO_PASSWORD)
        assert user.check_password("test-pass-2026")
    assert "executive" in out.getvalue() and "left as it was" in out.getvalue()
    # The demo logins it created itself have their roles and the demo password.
    created = User.objects.get(username="consultant")
    assert Role.CONSULTANT in created.roles
    assert created.check_password(DEMO_PASSWORD)
    # Run again, without --force: the database now holds the demo logins.
    call_command("demo_data", customers=40, stdout=StringIO())
