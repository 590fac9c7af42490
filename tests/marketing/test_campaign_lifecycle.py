"""A campaign's life and its invitations: nothing goes out once it has ended
(cancelled, finished or past its last day), and an ended campaign is read-only."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation

from crm_site import outbox
from marketing import services, tasks
from marketing.models import Campaign, CostLine, Invitation, Segment
from marketing.services.invitations import INVITATIONS
from tests.factories import CustomerFactory
from tests.marketing.conftest import make_campaign


def start_and_queue(campaign, marketer) -> int:
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    with mock.patch("marketing.tasks.invitations_send.delay"):
        return services.invitations_queue(actor=marketer, campaign=campaign)


def set_dates(campaign, *, starts_ago: int, ends_ago: int) -> None:
    today = timezone.localdate()
    Campaign.objects.filter(pk=campaign.pk).update(
        starts_on=today - timedelta(days=starts_ago),
        ends_on=today - timedelta(days=ends_ago),
    )


# Invitations claimed before the campaign ended -----------------------------------


@pytest.mark.parametrize("status", ["cancelled", "finished"])
def test_invitations_claimed_before_the_campaign_ended_are_withdrawn_not_sent(
    campaign, marketer, outboxes, status
):
    CustomerFactory.create_batch(3)
    assert start_and_queue(campaign, marketer) == 3
    pks = outbox.claim(INVITATIONS, only=Q(campaign_id=campaign.pk))
    services.campaign_move(actor=marketer, campaign=campaign, status=status)
    for pk in pks:
        assert outbox.send_claimed(INVITATIONS, pk) is False
    assert outboxes == []
    assert set(Invitation.objects.values_list("status", flat=True)) == {"withdrawn"}


def test_invitations_claimed_on_the_last_day_are_not_sent_the_day_after(
    campaign, marketer, outboxes
):
    CustomerFactory.create_batch(2)
    start_and_queue(campaign, marketer)
    pks = outbox.claim(INVITATIONS, only=Q(campaign_id=campaign.pk))
    set_dates(campaign, starts_ago=3, ends_ago=1)  # midnight passed meanwhile
    for pk in pks:
        outbox.send_claimed(INVITATIONS, pk)
    assert outboxes == []
    assert set(Invitation.objects.values_list("status", flat=True)) == {"withdrawn"}


# The end date ----------------------------------------------------------------------


def test_queued_invitations_wait_unsent_after_the_end_date_and_the_pump_skips_them(
    campaign, marketer, outboxes
):
    CustomerFactory.create_batch(2)
    start_and_queue(campaign, marketer)
    set_dates(campaign, starts_ago=10, ends_ago=3)
    assert services.invitations_send(campaign_id=campaign.pk) == 0
    assert outboxes == []
    assert set(Invitation.objects.values_list("status", flat=True)) == {"pending"}
    with mock.patch("marketing.tasks.invitations_send.delay") as delay:
        assert tasks.invitations_pump() == 0
    delay.assert_not_called()
    # Finishing the campaign withdraws them, as before.
    services.campaign_move(actor=marketer, campaign=campaign, status="finished")
    assert set(Invitation.objects.values_list("status", flat=True)) == {"withdrawn"}


def test_invitations_still_go_out_on_the_campaigns_last_day(
    campaign, marketer, outboxes
):
    CustomerFactory.create_batch(2)
    start_and_queue(campaign, marketer)
    set_dates(campaign, starts_ago=5, ends_ago=0)  # the end date is inclusive
    assert services.invitations_send(campaign_id=campaign.pk) == 2
    assert len(outboxes) == 2
    assert set(Invitation.objects.values_list("status", flat=True)) == {"sent"}


def test_queueing_is_refused_after_the_end_date_with_the_date(campaign, marketer):
    CustomerFactory.create_batch(2)
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    set_dates(campaign, starts_ago=10, ends_ago=1)
    ended = (timezone.localdate() - timedelta(days=1)).isoformat()
    with (
        mock.patch("marketing.tasks.invitations_send.delay") as delay,
        pytest.raises(services.InvitationsRefused, match=ended),
    ):
        services.invitations_queue(actor=marketer, campaign=campaign)
    delay.assert_not_called()
    assert not Invitation.objects.exists()


def test_the_send_button_after_the_end_date_says_why_and_queues_nothing(
    client, campaign, marketer
):
    CustomerFactory.create_batch(2)
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    set_dates(campaign, starts_ago=10, ends_ago=1)
    client.force_login(marketer)
    with mock.patch("marketing.tasks.invitations_send.delay"):
        response = client.post(
            reverse("marketing:campaign-send", args=[campaign.pk]), {"confirmed": "1"}
        )
    assert response.status_code == 302
    (message,) = get_messages(response.wsgi_request)
    assert message.level_tag == "error"
    assert not Invitation.objects.exists()


def test_a_check_in_on_the_events_last_day_is_recorded(campaign, marketer):
    customer = CustomerFactory()
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    set_dates(campaign, starts_ago=2, ends_ago=0)
    member = campaign.members.get(customer=customer)
    response, created = services.checkin_by_code(
        actor=marketer, campaign=campaign, code=member.code
    )
    assert created and response.kind == "checkin"


# Editing: what a start or an end committed meanwhile decides ----------------------


def test_campaign_update_keeps_the_segment_and_level_of_a_started_campaign(
    campaign, marketer, segment
):
    CustomerFactory.create_batch(2)
    other = Segment.objects.create(name="另一个", criteria={"stage": "owner"})
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    stale = Campaign.objects.get(pk=campaign.pk)
    stale.status = Campaign.Status.PLANNED  # what the form read before the start
    updated = services.campaign_update(
        actor=marketer,
        campaign=stale,
        segment=other,
        min_level=None,
        budget=Decimal("9000"),
    )
    assert updated.segment_id == segment.pk and updated.budget == Decimal("9000")
    campaign.refresh_from_db()
    assert campaign.segment_id == segment.pk and campaign.budget == Decimal("9000")
    assert campaign.members.count() == 2


def test_campaign_update_still_changes_the_segment_of_a_planned_campaign(
    campaign, marketer
):
    other = Segment.objects.create(name="另一个", criteria={"stage": "owner"})
    updated = services.campaign_update(actor=marketer, campaign=campaign, segment=other)
    assert updated.segment_id == other.pk


@pytest.mark.parametrize("status", ["cancelled", "finished"])
def test_campaign_update_refuses_a_campaign_that_has_ended(campaign, marketer, status):
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    services.campaign_move(actor=marketer, campaign=campaign, status=status)
    with pytest.raises(ValidationError):
        services.campaign_update(actor=marketer, campaign=campaign, budget=Decimal("1"))
    campaign.refresh_from_db()
    assert campaign.budget == Decimal("0")


def test_saving_the_form_of_a_campaign_cancelled_meanwhile_says_so_and_saves_nothing(
    client, campaign, marketer, segment
):
    client.force_login(marketer)
    real_update = services.campaign_update

    def cancel_first(**kwargs):
        # A colleague's Cancel commits just before this save takes its lock.
        services.campaign_move(actor=marketer, campaign=campaign, status="cancelled")
        return real_update(**kwargs)

    data = {
        "name": "改过的名字",
        "kind": campaign.kind,
        "project": campaign.project_id,
        "segment": segment.pk,
        "starts_on": campaign.starts_on.isoformat(),
        "ends_on": campaign.ends_on.isoformat(),
        "budget": "0",
        "invite_email": "on",
        "invite_sms": "on",
        "email_subject": "邀请函",
        "message": "x",
    }
    with mock.patch("marketing.views.campaigns.services.campaign_update", cancel_first):
        response = client.post(
            reverse("marketing:campaign-edit", args=[campaign.pk]), data
        )
    assert response.status_code == 302
    assert response["Location"] == campaign.get_absolute_url()
    (message,) = get_messages(response.wsgi_request)
    assert message.level_tag == "error"
    campaign.refresh_from_db()
    assert campaign.status == "cancelled" and campaign.name != "改过的名字"


# Cost lines ------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["finished", "cancelled"])
def test_a_cost_that_arrives_after_the_campaign_ended_is_still_recorded(
    client, campaign, marketer, status
):
    # Invoices come after the event; the rest of an ended campaign is read-only.
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    services.campaign_move(actor=marketer, campaign=campaign, status=status)
    client.force_login(marketer)
    url = reverse("marketing:campaign-detail", args=[campaign.pk])
    assert 'data-testid="add-cost"' in client.get(url).content.decode()
    client.post(
        reverse("marketing:cost-line-add", args=[campaign.pk]),
        {"spent_on": "2026-11-01", "item": "场地", "amount": "800"},
    )
    assert CostLine.objects.get().amount == Decimal("800")


# Past the end date: finished, for every read and then by the hourly task ---------


def _signup_url(campaign, marketer) -> str:
    from marketing.services.invitations import SIGNUP_SALT, public_token

    CustomerFactory(consent_sms=True)
    start_and_queue(campaign, marketer)
    invitation = Invitation.objects.get()
    return reverse(
        "marketing:public-signup", args=[public_token(invitation, SIGNUP_SALT)]
    )


def test_a_sign_up_the_day_after_the_end_date_is_refused_with_the_date_and_saves_nothing(
    client, campaign, marketer
):
    from marketing.models import Response

    url = _signup_url(campaign, marketer)
    set_dates(campaign, starts_ago=5, ends_ago=1)
    ended = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = client.post(url, HTTP_ACCEPT_LANGUAGE="en")
    page = response.content.decode()
    assert f"The campaign ended on {ended}: sign-ups are closed." in page
    assert 'data-testid="signed-up"' not in page
    assert not Response.objects.exists()


def test_a_sign_up_on_the_campaigns_last_day_is_recorded(client, campaign, marketer):
    from marketing.models import Response

    url = _signup_url(campaign, marketer)
    set_dates(campaign, starts_ago=5, ends_ago=0)
    client.post(url)
    assert Response.objects.get().kind == "signup"


def test_a_check_in_the_day_after_the_end_date_is_refused(campaign, marketer):
    customer = CustomerFactory()
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    set_dates(campaign, starts_ago=3, ends_ago=1)
    member = campaign.members.get(customer=customer)
    ended = (timezone.localdate() - timedelta(days=1)).isoformat()
    with (
        translation.override("en"),
        pytest.raises(services.ResponseRefused, match=f"{ended}: check-in is closed"),
    ):
        services.checkin_by_code(actor=marketer, campaign=campaign, code=member.code)
    assert not member.responses.exists()


def test_the_finish_task_finishes_campaigns_past_their_end_date_once_and_audits_it(
    campaign, marketer, project
):
    from crm_site.models import AuditEntry
    from marketing.services.campaigns import campaigns_finish

    CustomerFactory.create_batch(2)
    start_and_queue(campaign, marketer)
    set_dates(campaign, starts_ago=5, ends_ago=1)
    last_day = services.campaign_move(
        actor=marketer,
        campaign=make_campaign(marketer, project, name="今天最后一天"),
        status="running",
    )
    set_dates(last_day, starts_ago=5, ends_ago=0)
    assert tasks.campaigns_finish() == 1
    assert campaigns_finish() == 0  # a second run finishes nothing twice
    campaign.refresh_from_db()
    assert campaign.status == "finished"
    # It ran through its last day: it ended at midnight after it (Asia/Shanghai).
    assert timezone.localtime(campaign.ended_at).date() == timezone.localdate()
    assert timezone.localtime(campaign.ended_at).hour == 0
    assert set(Invitation.objects.values_list("status", flat=True)) == {"withdrawn"}
    moves = AuditEntry.objects.filter(
        object_id=campaign.pk, changes__status__new="finished"
    )
    assert moves.count() == 1 and moves.get().actor is None
    assert Campaign.objects.get(pk=last_day.pk).status == "running"


def test_the_finish_task_is_scheduled_in_beat(settings):
    tasks_scheduled = {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
    assert "marketing.tasks.campaigns_finish" in tasks_scheduled


def test_pages_show_a_running_campaign_past_its_end_date_as_finished(
    client, campaign, marketer
):
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    set_dates(campaign, starts_ago=5, ends_ago=1)
    client.force_login(marketer)
    detail = client.get(
        reverse("marketing:campaign-detail", args=[campaign.pk]),
        HTTP_ACCEPT_LANGUAGE="en",
    ).content.decode()
    badge = detail.split('data-testid="campaign-status">')[1].split("<")[0]
    assert badge == "Finished"
    assert 'data-testid="send-invitations"' not in detail
    assert 'data-testid="open-checkin"' not in detail
    assert 'data-testid="add-cost"' in detail  # invoices still come
    listing = reverse("marketing:campaign-list")
    running = client.get(listing, {"status": "running"}, HTTP_ACCEPT_LANGUAGE="en")
    assert running.context["rows"] == []
    finished = client.get(listing, {"status": "finished"}, HTTP_ACCEPT_LANGUAGE="en")
    assert [c.pk for c, _f in finished.context["rows"]] == [campaign.pk]
    assert 'data-testid="campaign-status">Finished<' in finished.content.decode()


def test_a_cost_that_arrives_after_the_end_date_is_still_recorded(
    client, campaign, marketer
):
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    set_dates(campaign, starts_ago=5, ends_ago=1)
    client.force_login(marketer)
    client.post(
        reverse("marketing:cost-line-add", args=[campaign.pk]),
        {"spent_on": "2026-11-01", "item": "场地", "amount": "800"},
    )
    assert CostLine.objects.get().amount == Decimal("800")


def test_a_campaign_that_ran_out_yesterday_can_still_be_extended(campaign, marketer):
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    set_dates(campaign, starts_ago=4, ends_ago=1)
    later = timezone.localdate() + timedelta(days=7)
    services.campaign_update(actor=marketer, campaign=campaign, ends_on=later)
    campaign.refresh_from_db()
    assert campaign.ends_on == later
    # Extended, it runs again: it takes sign-ups and the finish task leaves it.
    assert campaign.status == "running" and campaign.current_status == "running"


def test_a_campaign_that_ran_out_yesterday_can_still_be_cancelled(campaign, marketer):
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    set_dates(campaign, starts_ago=4, ends_ago=1)
    services.campaign_move(actor=marketer, campaign=campaign, status="cancelled")
    campaign.refresh_from_db()
    assert campaign.status == "cancelled"
    # It took no sign-up after its last day: it ended at midnight after it.
    assert timezone.localtime(campaign.ended_at).date() == timezone.localdate()
    assert timezone.localtime(campaign.ended_at).hour == 0


def test_the_edit_page_of_a_campaign_that_ran_out_yesterday_extends_it(
    client, campaign, marketer, segment
):
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    set_dates(campaign, starts_ago=4, ends_ago=1)
    campaign.refresh_from_db()
    later = timezone.localdate() + timedelta(days=7)
    client.force_login(marketer)
    url = reverse("marketing:campaign-edit", args=[campaign.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "name": campaign.name,
            "kind": campaign.kind,
            "project": campaign.project_id,
            "starts_on": campaign.starts_on.isoformat(),
            "ends_on": later.isoformat(),
            "budget": "0",
            "invite_email": "on",
            "invite_sms": "on",
            "email_subject": "邀请函",
            "message": "x",
        },
    )
    assert response.status_code == 302
    (message,) = get_messages(response.wsgi_request)
    assert message.level_tag == "success"
    campaign.refresh_from_db()
    assert campaign.ends_on == later and campaign.current_status == "running"


def test_the_finish_task_leaves_a_campaign_extended_since_it_read_the_list(
    campaign, marketer
):
    from marketing.services.campaigns import campaigns_finish

    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    set_dates(campaign, starts_ago=4, ends_ago=1)
    later = timezone.localdate() + timedelta(days=7)
    services.campaign_update(actor=marketer, campaign=campaign, ends_on=later)
    # A list read as if before the extension: the campaign is on it.
    assert campaigns_finish(today=later + timedelta(days=1)) == 0
    campaign.refresh_from_db()
    assert campaign.status == "running" and campaign.ended_at is None


def test_a_finished_campaign_is_not_extended(campaign, marketer):
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    set_dates(campaign, starts_ago=4, ends_ago=1)
    services.campaign_move(actor=marketer, campaign=campaign, status="finished")
    later = timezone.localdate() + timedelta(days=7)
    with pytest.raises(ValidationError):
        services.campaign_update(actor=marketer, campaign=campaign, ends_on=later)
    campaign.refresh_from_db()
    assert campaign.status == "finished" and campaign.ends_on < later


def test_a_campaign_the_job_finished_is_still_cancelled_from_its_page(
    client, campaign, marketer
):
    # Called off, but recorded after the hourly job finished it at its end date.
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    set_dates(campaign, starts_ago=4, ends_ago=1)
    services.campaigns_finish()
    campaign.refresh_from_db()
    assert campaign.status == "finished"
    client.force_login(marketer)
    page = client.get(reverse("marketing:campaign-detail", args=[campaign.pk]))
    assert 'data-testid="cancel-campaign"' in page.content.decode()
    services.campaign_move(actor=marketer, campaign=campaign, status="cancelled")
    campaign.refresh_from_db()
    assert campaign.status == "cancelled"


# Starting a planned campaign whose end date has passed ----------------------------


def test_starting_a_planned_campaign_past_its_end_date_is_refused_with_the_date(
    campaign, marketer
):
    from crm_site.models import AuditEntry

    CustomerFactory.create_batch(2)
    set_dates(campaign, starts_ago=10, ends_ago=1)
    ended = (timezone.localdate() - timedelta(days=1)).isoformat()
    audited = AuditEntry.objects.count()
    with pytest.raises(ValidationError, match=ended):
        services.campaign_move(actor=marketer, campaign=campaign, status="running")
    campaign.refresh_from_db()
    assert campaign.status == "planned" and campaign.started_at is None
    assert not campaign.members.exists()
    assert AuditEntry.objects.count() == audited


def test_the_start_button_of_a_campaign_past_its_end_date_says_to_change_the_dates(
    client, campaign, marketer
):
    set_dates(campaign, starts_ago=10, ends_ago=1)
    ended = (timezone.localdate() - timedelta(days=1)).isoformat()
    client.force_login(marketer)
    response = client.post(
        reverse("marketing:campaign-move", args=[campaign.pk, "running"]),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 302
    (message,) = get_messages(response.wsgi_request)
    assert message.level_tag == "error"
    assert ended in message.message and "dates" in message.message
    campaign.refresh_from_db()
    assert campaign.status == "planned"


def test_a_planned_campaign_ending_today_still_starts(campaign, marketer):
    set_dates(campaign, starts_ago=3, ends_ago=0)
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    campaign.refresh_from_db()
    assert campaign.status == "running"


def test_a_planned_campaign_past_its_end_date_may_still_be_cancelled(
    campaign, marketer
):
    set_dates(campaign, starts_ago=10, ends_ago=1)
    services.campaign_move(actor=marketer, campaign=campaign, status="cancelled")
    campaign.refresh_from_db()
    assert campaign.status == "cancelled"


# The sign-up page after the end date shows that it ended, not the button ---------


@pytest.mark.parametrize("recorded", [False, True])
def test_the_sign_up_page_after_the_end_date_shows_the_end_date_instead_of_the_button(
    client, campaign, marketer, recorded
):
    url = _signup_url(campaign, marketer)
    set_dates(campaign, starts_ago=5, ends_ago=1)
    if recorded:  # the hourly task has recorded it as finished
        tasks.campaigns_finish()
    ended = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    page = response.content.decode()
    assert f"The campaign ended on {ended}: sign-ups are closed." in page
    assert 'data-testid="signup-button"' not in page
    assert 'data-testid="signup-closed"' in page


def test_the_sign_up_page_of_a_cancelled_campaign_shows_no_button(
    client, campaign, marketer
):
    url = _signup_url(campaign, marketer)
    services.campaign_move(actor=marketer, campaign=campaign, status="cancelled")
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "The campaign is not running." in page
    assert 'data-testid="signup-button"' not in page


def test_the_sign_up_page_on_the_last_day_still_shows_the_button(
    client, campaign, marketer
):
    url = _signup_url(campaign, marketer)
    set_dates(campaign, starts_ago=5, ends_ago=0)
    page = client.get(url).content.decode()
    assert 'data-testid="signup-button"' in page
    assert 'data-testid="signup-closed"' not in page


def test_the_door_page_after_the_end_date_shows_the_end_date_instead_of_the_form(
    client, campaign, marketer
):
    services.campaign_move(actor=marketer, campaign=campaign, status="running")
    set_dates(campaign, starts_ago=5, ends_ago=1)
    ended = (timezone.localdate() - timedelta(days=1)).isoformat()
    client.force_login(marketer)
    page = client.get(
        reverse("marketing:campaign-checkin", args=[campaign.pk]),
        HTTP_ACCEPT_LANGUAGE="en",
    ).content.decode()
    assert f"The campaign ended on {ended}: check-in is closed." in page
    assert 'data-testid="checkin-button"' not in page
