"""Reports that arrive: a saved explorer view or the managers' overview, weekly or
monthly, by e-mail as an XLSX attachment, through the one outbox (crm_site.outbox).

A subscription says what, how often and on which day. ``reports_queue`` (Celery beat,
every quarter of an hour) writes one ``ReportDelivery`` row per subscription and due
day — the row's (subscription, period) key is unique, so a job that runs twice, or
again after a crash, queues the report once — then sends what is due. The workbook is
computed when the message is composed, as the subscriber and in the language they
subscribed in; their permissions are checked again then, so a manager who lost the
role, or the source's permission, gets nothing (the row is skipped with the reason).
"""

from __future__ import annotations

import io
import logging
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from crm_site import explorer, insight, outbox
from crm_site.messaging import Attachment
from crm_site.models import ExplorerView, ReportDelivery, ReportSubscription, User
from crm_site.replica import replica_reads

logger = logging.getLogger(__name__)

USE = "crm_site.use_explorer"
# Reports of a due day go out from this hour (Asia/Shanghai), before the working day.
SEND_HOUR = 7
# A missed day (beat or the worker down) is still sent within this many days.
CATCH_UP_DAYS = 6


# --- Subscriptions --------------------------------------------------------------------


class SubscriptionRefused(Exception):
    """What the subscriber must change; ``field`` is the form field it belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@transaction.atomic
def report_subscribe(
    *,
    user: User,
    what: str,
    view: ExplorerView | None,
    frequency: str,
    weekday: int | None,
    day: int | None,
    language: str,
) -> ReportSubscription:
    if not user.email:
        raise SubscriptionRefused(
            "email",
            gettext(
                "Your account has no e-mail address: ask an administrator to add "
                "one, then subscribe."
            ),
        )
    if what == ReportSubscription.What.VIEW:
        if view is None or view.owner_id != user.pk:
            raise SubscriptionRefused(
                "view", gettext("Choose one of your saved views.")
            )
    else:
        from crm_site.overview import may_see_overview

        if not may_see_overview(user):
            raise SubscriptionRefused(
                "what", gettext("The overview is not open to your role.")
            )
        view = None
    if frequency == ReportSubscription.Frequency.WEEKLY:
        if weekday is None or not 0 <= weekday <= 6:
            raise SubscriptionRefused("weekday", gettext("Choose a weekday."))
        if view is not None and not weekly_fits(view):
            raise SubscriptionRefused(
                "frequency",
                gettext("This view's data are kept by month: choose a monthly report."),
            )
        day = None
    else:
        if day is None or not 1 <= day <= 28:
            raise SubscriptionRefused(
                "day", gettext("Choose a day between the 1st and the 28th.")
            )
        weekday = None
    return ReportSubscription.objects.create(
        user=user,
        what=what,
        view=view,
        frequency=frequency,
        weekday=weekday,
        day=day,
        language=language,
    )


def weekly_fits(view: ExplorerView) -> bool:
    """Whether a week of the view's source can be counted: not for a fact kept by
    month only (crm_site.insight.Source.period_month)."""
    source = insight.source_named(view.source)
    return source is None or source.by_day or source.snapshot


def subscriptions_of(user: User) -> QuerySet:
    return (
        ReportSubscription.objects.filter(user=user)
        .select_related("view")
        .order_by("-created_at", "-pk")
    )


# --- When a report is due -------------------------------------------------------------


def last_due_day(subscription: ReportSubscription, today: date) -> date:
    """The latest day on or before today that the subscription names."""
    if subscription.frequency == ReportSubscription.Frequency.WEEKLY:
        return today - timedelta(days=(today.weekday() - subscription.weekday) % 7)
    if today.day >= subscription.day:
        return today.replace(day=subscription.day)
    previous = today.replace(day=1) - timedelta(days=1)
    return previous.replace(day=subscription.day)


def period_of(subscription: ReportSubscription, due: date) -> tuple[date, date]:
    """The days a report due on ``due`` covers: the week (Monday to Sunday) or the
    calendar month that ended before it."""
    if subscription.frequency == ReportSubscription.Frequency.WEEKLY:
        sunday = due - timedelta(days=due.weekday() + 1)
        return sunday - timedelta(days=6), sunday
    last = due.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def reports_queue(*, now: datetime | None = None) -> int:
    """One row per active subscription and due day (the key makes a second run, or
    a run after a crash, queue nothing more); returns how many rows were new."""
    now = now or timezone.now()
    local = timezone.localtime(now)
    today = local.date()
    rows = []
    for sub in ReportSubscription.objects.filter(active=True).only(
        "pk", "frequency", "weekday", "day", "created_at"
    ):
        due = last_due_day(sub, today)
        if due == today and local.time() < time(SEND_HOUR):
            continue
        if (today - due).days > CATCH_UP_DAYS:
            continue
        # Nothing for a day that passed before the subscription existed.
        if due < timezone.localtime(sub.created_at).date():
            continue
        rows.append(
            ReportDelivery(
                subscription_id=sub.pk,
                period=due.isoformat(),
                channel=outbox.Channel.EMAIL,
                next_attempt_at=now,
                created_at=now,
            )
        )
    before = ReportDelivery.objects.count() if rows else 0
    if rows:
        ReportDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        return ReportDelivery.objects.count() - before
    return 0


def reports_send(*, now: datetime | None = None) -> int:
    """The beat task's body: queue what is due, settle rows a dead worker left, send."""
    queued = reports_queue(now=now)
    outbox.recover_stale(REPORTS, now=now)
    sent = outbox.send_due(REPORTS, now=now)
    logger.info("reports: %s queued, %s sent", queued, sent)
    return sent


# --- What the e-mail carries ----------------------------------------------------------


def refusal(sub: ReportSubscription) -> str:
    """Why the subscriber may no longer receive this report ("" when they may)."""
    user = sub.user
    if not user.is_active:
        return "the subscriber's account is inactive"
    if not user.email:
        return "the subscriber has no e-mail address"
    if not user.has_perm(USE):
        return "the subscriber no longer holds the explorer permission"
    if sub.what == ReportSubscription.What.OVERVIEW:
        from crm_site.overview import may_see_overview

        if not may_see_overview(user):
            return "the subscriber may no longer see the overview"
        return ""
    if sub.view is None:
        return "the saved view is gone"
    query = explorer.parse(user, explorer.querydict(sub.view.params))
    if query.source is None or query.source.key != sub.view.source:
        return "the subscriber may no longer see the view's source"
    if not query.valid:
        return "the saved view no longer fits its source"
    if sub.frequency == ReportSubscription.Frequency.WEEKLY and not weekly_fits(
        sub.view
    ):
        return "the view's source is kept by month: a week cannot be reported"
    return ""


def view_workbook(user: User, view: ExplorerView, start: date, end: date) -> bytes:
    """The saved view over the rows of the period only (on the source's day or month
    column, ``Source.within``), as the subscriber; a snapshot source (customer value)
    as it is when the report is composed."""
    query = explorer.parse(user, explorer.querydict(view.params))
    period = None if query.source.snapshot else (start, end)
    result = explorer.run(user, query, period=period)
    return explorer.workbook(
        user, query, result, explorer.refreshed_at(query.source), period
    )


def overview_workbook(user: User, start: date, end: date) -> bytes:
    """The overview's figures for the subscriber's scope and the period, each with
    the same days of the period before and its target."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from crm_site import overview

    period = "week" if (end - start).days < 7 else "last_month"
    today = end if period == "week" else end + timedelta(days=1)
    board = overview.compute(user=user, project_id=None, period=period, today=today)
    scope = overview.Scope(user=user, project_id=None, key=overview.scope_key(user))
    book = Workbook()
    sheet = book.active
    sheet.title = gettext("Overview")[:31]
    sheet.append([gettext("Managers' overview")])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append([gettext("Period"), f"{board.start:%Y-%m-%d} – {board.end:%Y-%m-%d}"])
    sheet.append(
        [
            gettext("Previous period"),
            f"{board.previous_start:%Y-%m-%d} – {board.previous_end:%Y-%m-%d}",
        ]
    )
    sheet.append([])
    sheet.append(
        [
            gettext("Section"),
            gettext("Figure"),
            pgettext("report", "Value"),
            gettext("Previous period"),
            gettext("Target"),
        ]
    )
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for section in board.sections_for(scope):
        for fv in section.values:
            fig = fv.figure
            places = 2 if fig.money else fig.decimals
            fmt = "#,##0.00" if fig.money else ("#,##0" if not places else "0.0")
            sheet.append(
                [
                    str(section.section.label),
                    str(fig.label),
                    _num(fv.value, places),
                    _num(fv.previous, places),
                    _num(fv.target, places),
                ]
            )
            for cell in sheet[sheet.max_row][2:]:
                cell.number_format = fmt
    sheet.column_dimensions["A"].width = 18
    sheet.column_dimensions["B"].width = 28
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _num(value, places: int):
    if value is None:
        return None
    return round(float(value), places) if places else int(value)


class ReportKind(outbox.OutboxKind):
    name = "crm_site.report"
    label = _("Reports by e-mail")
    model = ReportDelivery
    # A manager's figures, to that manager: the service desk does not decide on them.
    reviewed_by = "crm_site.use_admin"

    def rows(self) -> QuerySet:
        return ReportDelivery.objects.select_related(
            "subscription", "subscription__user", "subscription__view"
        )

    def compose(self, row: ReportDelivery) -> outbox.Message | None:
        sub = row.subscription
        # Permissions as they are now, not as they were when the row was queued.
        user = User.objects.get(pk=sub.user_id)
        sub.user = user
        reason = refusal(sub)
        if reason:
            ReportDelivery.objects.filter(pk=row.pk).update(error=reason)
            logger.info("report %s skipped: %s", row.pk, reason)
            return None
        due = date.fromisoformat(row.period)
        start, end = period_of(sub, due)
        with translation.override(sub.language or settings.LANGUAGE_CODE):
            # The figures are a report: read off the primary when a replica serves
            # (crm_site.replica). Who may still receive it was decided above, on the
            # primary, so that a role withdrawn a moment ago already counts.
            with replica_reads():
                if sub.what == ReportSubscription.What.OVERVIEW:
                    name = gettext("Managers' overview")
                    content = overview_workbook(user, start, end)
                else:
                    # A name is one line in a subject: a line break (a hand-made
                    # POST, the admin) would make every attempt to send it fail.
                    name = " ".join(sub.view.name.split())
                    content = view_workbook(user, sub.view, start, end)
            subject = gettext("%(report)s: %(start)s – %(end)s") % {
                "report": name,
                "start": start.isoformat(),
                "end": end.isoformat(),
            }
            link = settings.PUBLIC_BASE_URL + reverse("report-list")
            text = gettext(
                "Hello %(name)s,\n\nYour report “%(report)s” for %(start)s – "
                "%(end)s is attached as a spreadsheet.\n\nYour subscriptions "
                "(pause or stop them): %(link)s\n"
            ) % {
                "name": user.display_name,
                "report": name,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "link": link,
            }
        return outbox.Message(
            channel=outbox.Channel.EMAIL,
            address=user.email,
            subject=subject,
            text=text,
            attachments=(
                Attachment(
                    filename=f"report-{due:%Y%m%d}.xlsx",
                    content=content,
                    mimetype=explorer.XLSX,
                ),
            ),
        )

    def describe(self, row: ReportDelivery) -> str:
        return f"{row.subscription.user} · {row.period}"


REPORTS = ReportKind()
