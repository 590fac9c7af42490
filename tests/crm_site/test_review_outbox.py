"""Who decides on a parked message: a service manager reviews the owners' notices and
surveys, not the managers' reports by e-mail (an administrator's)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from crm_site import outbox
from crm_site.models import ReportDelivery, ReportSubscription
from crm_site.reports import REPORTS
from crm_site.roles import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def parked_report():
    manager = UserFactory(role=Role.SALES_MANAGER, last_name="报表", first_name="经理")
    sub = ReportSubscription.objects.create(
        user=manager,
        what=ReportSubscription.What.OVERVIEW,
        frequency=ReportSubscription.Frequency.MONTHLY,
        day=1,
        language="zh-hans",
    )
    return ReportDelivery.objects.create(
        subscription=sub,
        period="2026-11-01",
        channel=outbox.Channel.EMAIL,
        status=outbox.Status.UNKNOWN,
        claimed_at=timezone.now(),
        next_attempt_at=timezone.now(),
    )


def test_a_service_manager_neither_sees_nor_decides_on_parked_reports(
    client, service_manager, parked_report
):
    client.force_login(service_manager)
    page = client.get(reverse("outbox-parked"))
    assert page.status_code == 200
    assert REPORTS.name not in {g.kind.name for g in page.context["groups"]}
    assert "报表经理" not in page.content.decode()
    for name in ("outbox-mark-sent", "outbox-send-again"):
        url = reverse(name, args=[REPORTS.name, parked_report.pk])
        assert client.post(url).status_code == 404
    parked_report.refresh_from_db()
    assert parked_report.status == outbox.Status.UNKNOWN


def test_an_administrator_decides_on_parked_reports(
    client, administrator, parked_report
):
    client.force_login(administrator)
    page = client.get(reverse("outbox-parked"))
    groups = {g.kind.name: g for g in page.context["groups"]}
    assert groups[REPORTS.name].total == 1
    url = reverse("outbox-mark-sent", args=[REPORTS.name, parked_report.pk])
    assert client.post(url).status_code == 302
    parked_report.refresh_from_db()
    assert parked_report.status == outbox.Status.SENT


def test_webhook_kinds_are_reviewed_by_those_who_may_replay_them(
    service_manager, administrator
):
    """A parked delivery names the subscriber's URL (often with a token), and sending
    it again reaches an outside system."""
    from crm_site.webhooks.delivery import PauseNoticeKind, WebhookKind

    for kind in (WebhookKind(), PauseNoticeKind()):
        assert not outbox.may_review(service_manager, kind)
        assert outbox.may_review(administrator, kind)
