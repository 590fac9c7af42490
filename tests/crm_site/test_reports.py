"""Reports that arrive (crm_site.reports): one outbox row per subscription and due
day however often the job runs, the e-mail carries the workbook computed as the
subscriber, and a subscriber who lost the right gets nothing."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from crm_site import messaging, outbox, replica, reports
from crm_site.models import ExplorerView, ReportDelivery, ReportSubscription
from sales.models import Opportunity, StageChange, StageDuration
from tests.factories import make_building
from tests.insight_fixtures import facts_refreshed, sell

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("_locmem_mail"),
]

DEALS = "sales.deals"
STAGES = "sales.stage_durations"


@pytest.fixture
def _locmem_mail():
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"
    ):
        mail.outbox = []
        yield


def _at(day: str, hour: int = 8) -> datetime:
    return timezone.make_aware(datetime.fromisoformat(f"{day}T{hour:02d}:00"))


@pytest.fixture
def view(sales_manager):
    return ExplorerView.objects.create(
        owner=sales_manager,
        name="成交按阶段",
        source=DEALS,
        params={"source": [DEALS], "measure": ["deals"], "dim": ["stage"]},
    )


def _weekly(user, view=None, weekday=3, created="2026-11-01"):
    sub = reports.report_subscribe(
        user=user,
        what="view" if view else "overview",
        view=view,
        frequency="weekly",
        weekday=weekday,
        day=None,
        language="zh-hans",
    )
    ReportSubscription.objects.filter(pk=sub.pk).update(created_at=_at(created))
    return sub


def test_a_due_report_is_queued_once_per_period_however_often_the_job_runs(
    sales_manager, view
):
    sub = _weekly(sales_manager, view, weekday=3)  # Thursdays
    # 2026-12-03 is a Thursday: before 7:00 nothing, from 7:00 one row.
    assert reports.reports_queue(now=_at("2026-12-03", 6)) == 0
    assert reports.reports_queue(now=_at("2026-12-03", 8)) == 1
    assert reports.reports_queue(now=_at("2026-12-03", 9)) == 0
    assert reports.reports_queue(now=_at("2026-12-05", 9)) == 0
    assert list(ReportDelivery.objects.values_list("period", flat=True)) == [
        "2026-12-03"
    ]
    # The next Thursday is the next period.
    assert reports.reports_queue(now=_at("2026-12-10")) == 1
    assert ReportDelivery.objects.filter(subscription=sub).count() == 2


def test_a_monthly_report_on_its_day_and_a_paused_one_never(sales_manager, view):
    sub = reports.report_subscribe(
        user=sales_manager,
        what="view",
        view=view,
        frequency="monthly",
        weekday=None,
        day=2,
        language="zh-hans",
    )
    ReportSubscription.objects.filter(pk=sub.pk).update(created_at=_at("2026-11-01"))
    assert reports.reports_queue(now=_at("2026-12-01")) == 0  # Nov 2 is too old
    assert reports.reports_queue(now=_at("2026-12-02")) == 1
    assert reports.period_of(sub, reports.last_due_day(sub, _at("2026-12-02").date()))
    ReportSubscription.objects.filter(pk=sub.pk).update(active=False)
    assert reports.reports_queue(now=_at("2027-01-02")) == 0


def test_the_email_carries_the_views_workbook_of_its_week_computed_as_the_subscriber(
    sales_manager, consultant, view
):
    building = make_building(floors=2, per_floor=4, skipped=())
    # The report due on Thursday 2026-12-03 covers Monday 11-23 to Sunday 11-29: the
    # deals opened on the Sunday before and on the Monday after are left out.
    for opened in ("2026-11-22", "2026-11-23", "2026-11-29", "2026-11-30"):
        deal = sell(building, consultant, contract=opened == "2026-11-23")
        Opportunity.objects.filter(pk=deal.pk).update(created_at=_at(opened, 23))
    facts_refreshed(DEALS)
    _weekly(sales_manager, view)
    now = _at("2026-12-03")
    # The job twice (a beat run repeated, a crash between queueing and sending).
    reports.reports_send(now=now)
    reports.reports_send(now=now)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [sales_manager.email]
    assert "2026-11-23" in message.subject and "2026-11-29" in message.subject
    ((name, content, mimetype),) = message.attachments
    assert name.endswith(".xlsx") and "spreadsheetml" in mimetype
    rows = list(load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))
    assert rows[1] == ("时段", "2026-11-23 – 2026-11-29")
    assert rows[-1][-1] == 2
    assert ReportDelivery.objects.get().status == outbox.Status.SENT


def test_a_monthly_report_covers_its_calendar_month_only(sales_manager, consultant):
    building = make_building(floors=2, per_floor=4, skipped=())
    for opened in ("2026-10-31", "2026-11-01", "2026-11-30", "2026-12-01"):
        deal = sell(building, consultant, contract=False)
        Opportunity.objects.filter(pk=deal.pk).update(created_at=_at(opened, 12))
    facts_refreshed(DEALS)
    view = ExplorerView.objects.create(
        owner=sales_manager,
        name="按月新增",
        source=DEALS,
        params={"source": [DEALS], "measure": ["deals"], "dim": ["month"]},
    )
    sub = reports.report_subscribe(
        user=sales_manager,
        what="view",
        view=view,
        frequency="monthly",
        weekday=None,
        day=2,
        language="zh-hans",
    )
    ReportSubscription.objects.filter(pk=sub.pk).update(created_at=_at("2026-11-01"))
    reports.reports_send(now=_at("2026-12-02"))
    ((_name, content, _mime),) = mail.outbox[0].attachments
    rows = list(load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))
    assert rows[1] == ("时段", "2026-11-01 – 2026-11-30")
    # One line, November's, holding its two deals.
    assert rows[-2] == ("2026-11", 2) and rows[-1][-1] == 2


def test_a_weekly_time_in_stage_report_counts_the_deals_with_a_stay_entered_that_week(
    sales_manager, consultant
):
    building = make_building(floors=2, per_floor=4, skipped=())
    # Opened (its first stay) before the week, moved on within it: it counts once.
    during = sell(building, consultant, contract=True)
    Opportunity.objects.filter(pk=during.pk).update(created_at=_at("2026-11-20"))
    for n, change in enumerate(during.stage_changes.order_by("id")):
        day = "2026-11-21" if n == 0 else "2026-11-24"
        StageChange.objects.filter(pk=change.pk).update(changed_at=_at(day, 9 + n))
    sell(building, consultant, contract=False)  # every stay after the week
    facts_refreshed(STAGES)
    view = ExplorerView.objects.create(
        owner=sales_manager,
        name="阶段停留",
        source=STAGES,
        params={"source": [STAGES], "measure": ["deals"], "dim": ["stage"]},
    )
    _weekly(sales_manager, view)
    reports.reports_send(now=_at("2026-12-03"))
    ((_name, content, _mime),) = mail.outbox[0].attachments
    rows = list(load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))
    assert rows[1] == ("时段", "2026-11-23 – 2026-11-29")
    entered = StageDuration.objects.filter(
        deal_id=during.pk, entered_at__date__range=("2026-11-23", "2026-11-29")
    )
    assert entered.count() >= 2  # the stages it entered that week, one line each
    assert len(rows) - rows.index(next(r for r in rows if r[-1] == "合计")) - 2 == (
        entered.count()
    )
    assert rows[-1][-1] == 1  # one deal, not one per stage, nor none


def test_a_weekly_report_of_a_view_kept_by_month_is_refused(client, sales_manager):
    view = ExplorerView.objects.create(
        owner=sales_manager,
        name="跟进按月",
        source="customers.interactions",
        params={
            "source": ["customers.interactions"],
            "measure": ["interactions"],
            "dim": ["month"],
        },
    )
    client.force_login(sales_manager)
    response = client.post(
        reverse("report-subscribe"),
        {"what": "view", "view": view.pk, "frequency": "weekly", "weekday": "0"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert response.status_code == 400
    assert "请选择月报" in response.content.decode()
    assert not ReportSubscription.objects.exists()


def test_the_figures_are_read_as_a_report_and_who_may_receive_them_is_not(
    sales_manager, consultant, view
):
    """The workbook's reads may come from the replica (crm_site.replica); whether the
    subscriber may still receive it is read from the primary, as it is now."""
    sell(make_building(floors=1, per_floor=2, skipped=()), consultant, contract=False)
    facts_refreshed(DEALS)
    _weekly(sales_manager, view)
    reads: list[tuple[bool, str]] = []

    def note(execute, sql, params, many, context):
        reads.append((replica.in_reporting_context(), sql))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note):
        reports.reports_send(now=_at("2026-12-03"))
    assert len(mail.outbox) == 1
    facts = [inside for inside, sql in reads if '"sales_dealfact"' in sql]
    assert facts and all(facts)
    rights = [inside for inside, sql in reads if '"auth_permission"' in sql]
    assert rights and not any(rights)


def test_the_overview_report_carries_the_overviews_figures(sales_manager):
    _weekly(sales_manager)
    reports.reports_send(now=_at("2026-12-03"))
    (message,) = mail.outbox
    ((_name, content, _mime),) = message.attachments
    sheet = load_workbook(io.BytesIO(content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][1] == "2026-11-23 – 2026-11-29"
    assert len(rows) > 5  # a line per figure of the sections the manager sees


def test_a_subscriber_who_lost_the_role_gets_nothing(sales_manager, view):
    _weekly(sales_manager, view)
    sales_manager.groups.remove(Group.objects.get(name="sales_manager"))
    reports.reports_send(now=_at("2026-12-03"))
    assert mail.outbox == []
    row = ReportDelivery.objects.get()
    assert row.status == outbox.Status.SKIPPED
    assert "permission" in row.error


def test_a_user_without_an_email_address_cannot_subscribe(client, sales_manager):
    sales_manager.email = ""
    sales_manager.save()
    client.force_login(sales_manager)
    response = client.post(
        reverse("report-subscribe"),
        {"what": "overview", "frequency": "weekly", "weekday": "0", "day": "1"},
    )
    assert response.status_code == 400
    assert response.context["errors"]["email"]
    assert 'data-testid="error-email"' in response.content.decode()
    assert not ReportSubscription.objects.exists()


def test_subscribing_pausing_and_deleting_are_the_owners_only(
    client, sales_manager, executive, view
):
    client.force_login(sales_manager)
    response = client.post(
        reverse("report-subscribe"),
        {"what": "view", "view": view.pk, "frequency": "monthly", "day": "5"},
    )
    assert response.status_code == 302
    sub = ReportSubscription.objects.get()
    assert (sub.view, sub.day, sub.weekday, sub.language) == (view, 5, None, "zh-hans")
    bad = client.post(
        reverse("report-subscribe"), {"what": "view", "view": "", "frequency": "weekly"}
    )
    assert bad.status_code == 400 and bad.context["errors"]["view"]

    client.force_login(executive)
    assert client.post(reverse("report-pause"), {"id": sub.pk}).status_code == 404
    assert client.post(reverse("report-delete"), {"id": sub.pk}).status_code == 404
    taken = client.post(
        reverse("report-subscribe"),
        {"what": "view", "view": view.pk, "frequency": "weekly", "weekday": "1"},
    )
    assert taken.status_code == 400  # another's saved view is not theirs to send

    client.force_login(sales_manager)
    client.post(reverse("report-pause"), {"id": sub.pk})
    sub.refresh_from_db()
    assert not sub.active
    page = client.get(reverse("report-list"))
    assert page.status_code == 200 and view.name in page.content.decode()
    client.post(reverse("report-delete"), {"id": sub.pk})
    assert not ReportSubscription.objects.exists()


def test_send_email_attaches_files():
    messaging.send_email(
        "a@example.com",
        "s",
        "t",
        key="k1",
        attachments=[messaging.Attachment("a.xlsx", b"PK", "application/x")],
    )
    assert mail.outbox[0].attachments == [("a.xlsx", b"PK", "application/x")]


def test_the_overview_is_offered_only_to_those_who_see_it(client, marketer):
    client.force_login(marketer)
    response = client.post(
        reverse("report-subscribe"),
        {"what": "overview", "frequency": "weekly", "weekday": "4"},
    )
    assert response.status_code == 400 and response.context["errors"]["what"]
    assert not ReportSubscription.objects.exists()
