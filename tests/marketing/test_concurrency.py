from __future__ import annotations

import threading
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connection

from marketing import services, tasks
from marketing.models import Campaign, Invitation, Segment
from sales.models import Project
from tests.factories import CustomerFactory
from tests.marketing.conftest import make_campaign


@pytest.mark.django_db(transaction=True)
def test_two_senders_at_once_send_each_invitation_once(marketer, outboxes):
    project = Project.objects.create(name="并发项目")
    CustomerFactory.create_batch(40)
    segment = Segment.objects.create(name="全部", criteria={})
    campaign = make_campaign(
        marketer, project, segment, invite_email=False, email_subject=""
    )
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    with mock.patch("marketing.tasks.invitations_send.delay"):
        services.invitations_queue(actor=marketer, campaign=campaign)
    errors = []

    def sender():
        try:
            services.invitations_send(campaign_id=campaign.pk, limit=100)
        except Exception as exc:  # noqa: BLE001 - the main thread asserts on it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    phones = [message.phone for message in outboxes]
    assert len(phones) == 40 == len(set(phones))
    assert Invitation.objects.filter(status="sent").count() == 40
    assert Campaign.objects.get().status == "running"


def test_a_second_batch_within_the_minute_waits_for_the_pump(running):
    key = tasks.batch_key(running.pk)
    cache.set(key, 1, 30)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(
                "marketing.services.invitations_send",
                lambda **kw: pytest.fail("sent while another sender holds the lock"),
            )
            assert tasks.invitations_send(running.pk) == 0
    finally:
        cache.delete(key)


@pytest.mark.django_db(transaction=True)
def test_a_check_in_that_hands_out_a_lead_does_not_deadlock_with_a_subscription(
    marketer, consultant, project, building
):
    """The subscription locks the deal, its unit, then the customer; the check-in of
    the same unowned customer must not hold the customer while waiting for the deal."""
    import time

    from customers import services as customer_services
    from sales import services as sales_services
    from sales.models import Opportunity, Unit

    guest = CustomerFactory(assigned_consultant=None)
    deal = sales_services.opportunity_open(
        actor=consultant, customer=guest, project=project, consultant=consultant
    )
    unit = Unit.objects.filter(building=building, status="available").first()
    sales_services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    campaign = make_campaign(marketer, project, name="到访礼")
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    member = campaign.members.create(customer=guest)
    holds_deal, checking_in = threading.Event(), threading.Event()
    real_update = customer_services.customer_update
    errors = []

    def update_after_the_check_in_started(**kwargs):
        holds_deal.set()
        checking_in.wait(5)
        time.sleep(0.5)  # the check-in takes what locks it can meanwhile
        return real_update(**kwargs)

    def subscribe():
        try:
            with mock.patch(
                "customers.services.customer_update", update_after_the_check_in_started
            ):
                sales_services.unit_subscribe(actor=consultant, opportunity=deal)
        except Exception as exc:  # noqa: BLE001 - the main thread asserts on it
            errors.append(exc)
        finally:
            connection.close()

    def check_in():
        try:
            holds_deal.wait(5)
            checking_in.set()
            services.checkin_by_code(
                actor=marketer, campaign=campaign, code=member.code
            )
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=subscribe), threading.Thread(target=check_in)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert Opportunity.objects.get(pk=deal.pk).stage == "subscribed"
    assert member.responses.get().kind == "checkin"
