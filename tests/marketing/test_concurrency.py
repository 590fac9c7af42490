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
