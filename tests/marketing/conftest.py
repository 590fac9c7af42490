"""Marketing fixtures: a project sold by the consultants' team, a segment, campaigns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from crm_site import messaging
from marketing import services
from marketing.models import Campaign, Segment
from sales.models import Project


@pytest.fixture
def outboxes(settings):
    settings.SMS_BACKEND = "crm_site.messaging.LocMemSmsBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    messaging.sms_outbox.clear()
    mail.outbox = []
    return messaging.sms_outbox


@pytest.fixture
def project(team) -> Project:
    project = Project.objects.create(name="安居·御景湾", city="杭州")
    project.teams.add(team)
    return project


@pytest.fixture
def segment(marketer) -> Segment:
    return Segment.objects.create(name="意向客户", criteria={"stage": "prospect"})


def make_campaign(marketer, project, segment=None, **fields) -> Campaign:
    today = timezone.localdate()
    values = {
        "name": "开盘品鉴会",
        "kind": Campaign.Kind.EVENT,
        "project": project,
        "segment": segment,
        "starts_on": today,
        "ends_on": today + timedelta(days=7),
        "invite_email": True,
        "invite_sms": True,
        "email_subject": "邀请函",
        "message": "诚邀您参加开盘品鉴会",
    }
    values.update(fields)
    return services.campaign_create(actor=marketer, **values)


@pytest.fixture
def campaign(marketer, project, segment) -> Campaign:
    return make_campaign(marketer, project, segment)


@pytest.fixture
def running(campaign, marketer) -> Campaign:
    return services.campaign_move(
        actor=marketer, campaign=campaign, status=Campaign.Status.RUNNING
    )
