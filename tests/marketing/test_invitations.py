from __future__ import annotations

from datetime import datetime, time, timedelta
from unittest import mock
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from crm_site import messaging, outbox
from customers.models import ConsentRecord, Interaction
from marketing import services, tasks
from marketing.models import Invitation
from marketing.services.invitations import (
    UNSUBSCRIBE_SALT,
    public_token,
)
from tests.factories import CustomerFactory


def start_and_queue(campaign, marketer):
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    with mock.patch("marketing.tasks.invitations_send.delay"):
        return services.invitations_queue(actor=marketer, campaign=campaign)


def test_invitations_go_only_to_channels_the_member_consented_to(
    campaign, marketer, outboxes
):
    CustomerFactory(name="两者", email="both@example.com", consent_email=True)
    CustomerFactory(name="仅短信", email="sms@example.com", consent_email=False)
    CustomerFactory(name="无邮箱", email="", consent_email=True)
    assert start_and_queue(campaign, marketer) == 4  # 3 SMS + 1 e-mail
    services.invitations_send(campaign_id=campaign.pk)
    assert [m.to for m in mail.outbox] == [["both@example.com"]]
    assert len(outboxes) == 3
    assert mail.outbox[0].subject == "邀请函"
    assert "/marketing/u/" in mail.outbox[0].body  # the unsubscribe link


def test_queueing_twice_adds_nobody_twice(campaign, marketer, outboxes):
    CustomerFactory.create_batch(2)
    assert start_and_queue(campaign, marketer) == 2
    with mock.patch("marketing.tasks.invitations_send.delay"):
        assert services.invitations_queue(actor=marketer, campaign=campaign) == 0


def test_queueing_sends_the_job_on_commit(
    campaign, marketer, django_capture_on_commit_callbacks
):
    CustomerFactory()
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    with (
        mock.patch("marketing.tasks.invitations_send.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.invitations_queue(actor=marketer, campaign=campaign)
    delay.assert_called_once_with(campaign.pk)


def test_a_planned_campaign_sends_nothing(campaign, marketer):
    with pytest.raises(services.InvitationsRefused):
        services.invitations_queue(actor=marketer, campaign=campaign)


def test_consent_is_checked_again_at_send_time(campaign, marketer, outboxes):
    customer = CustomerFactory()
    start_and_queue(campaign, marketer)
    customer.consent_sms = False
    customer.save()
    services.invitations_send(campaign_id=campaign.pk)
    assert outboxes == []
    assert Invitation.objects.get().status == "skipped"


def test_a_sent_invitation_lands_on_the_timeline_and_keeps_the_follow_up(
    campaign, marketer, outboxes
):
    follow_up = timezone.localdate() + timedelta(days=3)
    customer = CustomerFactory(next_follow_up=follow_up)
    start_and_queue(campaign, marketer)
    services.invitations_send(campaign_id=campaign.pk)
    entry = Interaction.objects.get(customer=customer)
    assert entry.channel == "sms" and entry.event == "marketing.invited"
    assert entry.params == {"campaign": campaign.name} and campaign.name in entry.text
    customer.refresh_from_db()
    assert customer.next_follow_up == follow_up
    assert customer.last_contact_at is None  # a mass message is no contact


def test_a_send_that_crashes_half_way_resumes_without_sending_anyone_twice(
    campaign, marketer, outboxes
):
    CustomerFactory.create_batch(6)
    start_and_queue(campaign, marketer)
    real_send = messaging.send_sms
    calls = {"n": 0}

    def crash_on_fourth(phone, text, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise SystemExit("worker killed")  # not a SendFailed: the process dies
        return real_send(phone, text, **kwargs)

    with (
        mock.patch("crm_site.messaging.send_sms", crash_on_fourth),
        pytest.raises(SystemExit),
    ):
        services.invitations_send(campaign_id=campaign.pk)
    assert len(outboxes) == 3
    # The re-run (the same task delivered again) sends nothing the dead sender had
    # claimed (its batch: the interrupted row and the two after it).
    services.invitations_send(campaign_id=campaign.pk)
    assert len(outboxes) == 3
    statuses = sorted(Invitation.objects.values_list("status", flat=True))
    assert statuses == ["sending"] * 3 + ["sent"] * 3
    # Once stale: the two never handed over are queued again at once; the one the
    # worker died handing over is checked with the gateway by its key (it has not
    # got it) and retried after the back-off of a refusal. Each is sent once.
    later = timezone.now() + timedelta(hours=1)
    recovered = services.invitations_recover(now=later)
    assert (recovered.requeued, recovered.sent, recovered.parked) == (3, 0, 0)
    services.invitations_send(campaign_id=campaign.pk, now=later)
    services.invitations_send(campaign_id=campaign.pk, now=later)
    assert len(outboxes) == 5
    interrupted = Invitation.objects.get(status="pending")
    assert interrupted.error == outbox.INTERRUPTED_ERROR
    services.invitations_send(campaign_id=campaign.pk, now=interrupted.next_attempt_at)
    phones = [m.phone for m in outboxes]
    assert len(phones) == 6 == len(set(phones))
    assert Invitation.objects.filter(status="sent").count() == 6


def test_rows_of_a_crashed_batch_never_handed_over_are_queued_again_not_parked(
    campaign, marketer, outboxes, settings
):
    # E-mail invitations carry their channel from the start; SMTP cannot say what it
    # has. Only the row the worker died handing over is unknown; the rest of its
    # claimed batch never reached the server and is queued again.
    campaign.invite_sms = False
    campaign.save(update_fields=["invite_sms"])
    for n in range(5):
        CustomerFactory(email=f"o{n}@example.com", consent_email=True)
    start_and_queue(campaign, marketer)
    assert Invitation.objects.filter(channel="email").count() == 5
    real_send = messaging.send_email
    calls = {"n": 0}

    def crash_on_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("worker killed")
        return real_send(*args, **kwargs)

    with (
        mock.patch("crm_site.messaging.send_email", crash_on_second),
        pytest.raises(SystemExit),
    ):
        services.invitations_send(campaign_id=campaign.pk)
    assert len(mail.outbox) == 1
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    recovered = services.invitations_recover(now=timezone.now() + timedelta(hours=1))
    assert (recovered.sent, recovered.requeued, recovered.parked) == (0, 3, 1)


def test_sending_is_rate_limited_to_one_batch_per_run(
    campaign, marketer, outboxes, settings
):
    settings.MARKETING_SEND_PER_MINUTE = 2
    CustomerFactory.create_batch(5)
    start_and_queue(campaign, marketer)
    cache.delete(tasks.batch_key(campaign.pk))
    try:
        assert tasks.invitations_send(campaign.pk) == 2
        assert tasks.invitations_send(campaign.pk) == 0  # the same minute
    finally:
        cache.delete(tasks.batch_key(campaign.pk))
    assert len(outboxes) == 2
    assert services.invitations_send(campaign_id=campaign.pk) == 2  # the next minute


def test_the_pump_queues_campaigns_with_work_left(campaign, marketer):
    CustomerFactory()
    start_and_queue(campaign, marketer)
    with mock.patch("marketing.tasks.invitations_send.delay") as delay:
        assert tasks.invitations_pump() == 1
    delay.assert_called_once_with(campaign.pk)


def test_a_provider_failure_is_retried_with_back_off_then_marked_failed(
    campaign, marketer, settings
):
    CustomerFactory()
    start_and_queue(campaign, marketer)
    from crm_site.messaging import SendFailed

    now = timezone.now()
    with mock.patch("crm_site.messaging.send_sms", side_effect=SendFailed("down")):
        for attempt in range(1, 6):
            assert services.invitations_send(campaign_id=campaign.pk, now=now) == 1
            row = Invitation.objects.get()
            assert row.attempts == attempt and row.error == "down"
            if attempt < 5:
                assert row.status == "pending" and row.next_attempt_at > now
                # Not before its back-off has passed.
                assert services.invitations_send(campaign_id=campaign.pk, now=now) == 0
                now = row.next_attempt_at
    assert row.status == "failed"


def test_unsubscribe_link_withdraws_consent_at_once_without_login(
    client, campaign, marketer, outboxes
):
    customer = CustomerFactory(email="a@example.com", consent_email=True)
    start_and_queue(campaign, marketer)
    email_row = Invitation.objects.get(channel="email")
    url = reverse(
        "marketing:unsubscribe", args=[public_token(email_row, UNSUBSCRIBE_SALT)]
    )
    assert client.get(url).status_code == 200
    customer.refresh_from_db()
    assert customer.consent_email  # a GET (a mail scanner) changes nothing
    response = client.post(url)
    assert response.status_code == 200
    customer.refresh_from_db()
    assert not customer.consent_email and customer.consent_sms
    record = ConsentRecord.objects.get(customer=customer)
    assert (record.purpose, record.granted, record.method) == (
        "email",
        False,
        "unsubscribe",
    )
    # The queued e-mail is not sent; the SMS still is.
    services.invitations_send(campaign_id=campaign.pk)
    assert mail.outbox == [] and len(outboxes) == 1
    client.post(url)  # twice: no second record
    assert ConsentRecord.objects.filter(customer=customer).count() == 1


def test_a_tampered_unsubscribe_link_is_refused(client, db):
    response = client.post(reverse("marketing:unsubscribe", args=["forged"]))
    assert response.status_code == 404


def test_an_ended_campaign_sends_no_more_invitations(campaign, marketer, outboxes):
    CustomerFactory.create_batch(3)
    start_and_queue(campaign, marketer)
    services.invitations_send(campaign_id=campaign.pk, limit=1)
    services.campaign_move(actor=marketer, campaign=campaign, status="cancelled")
    assert services.invitations_send(campaign_id=campaign.pk) == 0
    assert len(outboxes) == 1
    statuses = sorted(Invitation.objects.values_list("status", flat=True))
    assert statuses == ["sent", "withdrawn", "withdrawn"]
    with mock.patch("marketing.tasks.invitations_send.delay") as delay:
        assert tasks.invitations_pump() == 0
    delay.assert_not_called()


def test_the_email_carries_the_code_and_a_qr_image_that_needs_no_login(
    client, campaign, marketer, outboxes
):
    CustomerFactory(email="a@example.com", consent_email=True, consent_sms=False)
    start_and_queue(campaign, marketer)
    services.invitations_send(campaign_id=campaign.pk)
    message = mail.outbox[0]
    html, mimetype = message.alternatives[0]
    code = Invitation.objects.get().member.code_display
    assert mimetype == "text/html" and code in html and code in message.body
    qr_url = html.split('<img src="', 1)[1].split('"', 1)[0]
    response = client.get(urlsplit(qr_url).path)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")


def test_a_sender_killed_after_the_gateway_accepted_is_settled_without_a_second_sms(
    campaign, marketer, outboxes
):
    CustomerFactory.create_batch(2)
    start_and_queue(campaign, marketer)
    with (
        mock.patch("crm_site.outbox.mark_sent", side_effect=SystemExit("killed")),
        pytest.raises(SystemExit),
    ):
        services.invitations_send(campaign_id=campaign.pk)
    assert len(outboxes) == 1  # the gateway has the first; the worker died
    later = timezone.now() + timedelta(hours=1)
    recovered = services.invitations_recover(now=later)
    # The first is found at the gateway by its key; the second never reached it.
    assert (recovered.sent, recovered.requeued, recovered.parked) == (1, 1, 0)
    services.invitations_send(campaign_id=campaign.pk, now=later)
    services.invitations_send(campaign_id=campaign.pk, now=later)
    phones = [m.phone for m in outboxes]
    assert len(phones) == 2 == len(set(phones))
    assert Invitation.objects.filter(status="sent").count() == 2
    assert Interaction.objects.count() == 2  # each on its customer's timeline once


def test_the_last_day_is_the_houses_whatever_zone_is_active(
    campaign, marketer, outboxes
):
    """A campaign runs through its end date in Asia/Shanghai: at 01:00 there the
    next morning (still the end date in New York), nobody is invited."""
    CustomerFactory.create_batch(2)
    start_and_queue(campaign, marketer)
    shanghai = timezone.get_default_timezone()
    morning_after = timezone.make_aware(
        datetime.combine(campaign.ends_on + timedelta(days=1), time(1, 0)), shanghai
    )
    with (
        mock.patch("django.utils.timezone.now", return_value=morning_after),
        timezone.override(ZoneInfo("America/New_York")),
    ):
        assert services.invitations_send(campaign_id=campaign.pk) == 0
    assert outboxes == []
