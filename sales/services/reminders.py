"""The consultants' morning digest and the escalation of overdue follow-ups.

build → one FollowUpDigest row per consultant and day (a unique key: running the job
twice creates nothing twice); send → crm_site.outbox claims the row, e-mails it with
its idempotency key and, in the transaction that marks it sent, writes the in-app
notification; a sweeper settles interrupted sends and re-queues rows whose message was
lost, so a Redis outage or a crashed worker delays a digest, never loses or repeats it.
The morning job is guarded by crm_site.jobs: it runs once a day, at the hour or, when
the stack was down then, as soon as it is back.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm_site import events, jobs, outbox
from crm_site.models import User
from crm_site.notifications import notify
from crm_site.roles import Role
from customers.models import Customer
from sales import events as sales_events
from sales.models import FollowUpDigest, FollowUpEscalation, Registration

SAMPLE = 10
DIGEST_JOB = "follow_up_digest"
WARN_JOB = "registrations_warn"


def _lapsing(day: date, now: datetime):
    soon = now + timedelta(days=3)
    return Registration.objects.filter(
        status=Registration.Status.PROTECTED,
        protected_until__lte=soon,
        consultant__is_active=True,
    )


@transaction.atomic
def digests_build(*, now: datetime | None = None) -> list[int]:
    """Create the digest rows of the day of ``now`` (default: today) and escalate
    long-overdue follow-ups; returns the ids of rows still to send."""
    now = now or timezone.now()
    day = timezone.localdate(now)
    counts = (
        Customer.objects.live()
        # A deactivated account (someone who left) is sent no list of names.
        .filter(next_follow_up__lte=day, assigned_consultant__is_active=True)
        .values("assigned_consultant")
        .annotate(
            due_today=Count("id", filter=Q(next_follow_up=day)),
            overdue=Count("id", filter=Q(next_follow_up__lt=day)),
        )
    )
    rows: dict[int, dict] = {
        row["assigned_consultant"]: {
            "due_today": row["due_today"],
            "overdue": row["overdue"],
            "lapsing": 0,
        }
        for row in counts
    }
    for row in _lapsing(day, now).values("consultant").annotate(n=Count("id")):
        rows.setdefault(row["consultant"], {"due_today": 0, "overdue": 0})[
            "lapsing"
        ] = row["n"]
    existing = set(
        FollowUpDigest.objects.filter(day=day).values_list("user_id", flat=True)
    )
    new = []
    for user_id, figures in rows.items():
        if user_id in existing:
            continue
        new.append(
            FollowUpDigest(
                user_id=user_id,
                day=day,
                due_today=figures.get("due_today", 0),
                overdue=figures.get("overdue", 0),
                lapsing=figures.get("lapsing", 0),
                payload=_sample(user_id, day),
            )
        )
    FollowUpDigest.objects.bulk_create(new, ignore_conflicts=True, batch_size=500)
    escalations_build(day=day)
    return list(
        FollowUpDigest.objects.filter(
            day=day, status=FollowUpDigest.Status.PENDING
        ).values_list("pk", flat=True)
    )


def digest_job(*, now: datetime) -> str:
    """The morning job (crm_site.jobs runs it once a day): the rows, then one send
    task per row once they are committed."""
    from sales import tasks

    pending = digests_build(now=now)
    for digest_id in pending:
        tasks.digest_send.delay_on_commit(digest_id)
    return f"{len(pending)} digests to send"


def warn_job(*, now: datetime) -> str:
    """The hourly warning of customers about to lapse (each registration once)."""
    from sales.services.ownership import registrations_warn

    return f"{registrations_warn(now=now)} warned"


def register_jobs() -> None:
    jobs.register(
        jobs.ScheduledJob(
            name=DIGEST_JOB,
            every=jobs.DAILY,
            run=digest_job,
            hour=lambda: settings.FOLLOW_UP_DIGEST_HOUR,
        )
    )
    jobs.register(jobs.ScheduledJob(name=WARN_JOB, every=jobs.HOURLY, run=warn_job))


def _sample(user_id: int, day: date) -> dict:
    # Ids and dates only: a name copied here would outlive the customer's
    # anonymisation in a digest still to send; compose reads the names.
    mine = Customer.objects.live().filter(assigned_consultant_id=user_id)
    due = mine.filter(next_follow_up__lte=day).order_by("next_follow_up", "pk")[:SAMPLE]
    return {
        "follow_ups": [
            {"id": pk, "date": follow_up.isoformat()}
            for pk, follow_up in due.values_list("pk", "next_follow_up")
        ]
    }


def _follow_up_lines(payload: dict) -> list[str]:
    """The digest's sample as e-mail lines, named as the customers are now (one
    query); a customer merged away or anonymised since is left out."""
    items = payload.get("follow_ups", [])
    customers = Customer.objects.only("pk", "name", "merged_into", "anonymised_at")
    found = customers.in_bulk([item["id"] for item in items])
    return [
        f"- {found[item['id']].name} ({item['date']})"
        for item in items
        if item["id"] in found and not found[item["id"]].is_gone
    ]


@transaction.atomic
def escalations_build(*, day: date) -> int:
    """Escalate follow-ups overdue for FOLLOW_UP_ESCALATE_DAYS, once per due date (a
    unique key), with one notification per sales manager listing how many. The rows
    and the notifications commit together: an escalation is never recorded unsent."""
    limit = day - timedelta(days=settings.FOLLOW_UP_ESCALATE_DAYS)
    overdue = (
        Customer.objects.live()
        .filter(next_follow_up__lte=limit, assigned_consultant__isnull=False)
        .values_list(
            "pk",
            "next_follow_up",
            "assigned_consultant_id",
            "assigned_consultant__team_id",
        )
    )
    created_by_team: dict[int | None, int] = {}
    batch: list[tuple] = []

    def flush() -> None:
        known = set(
            FollowUpEscalation.objects.filter(
                customer_id__in=[row[0] for row in batch]
            ).values_list("customer_id", "due_date")
        )
        fresh = [row for row in batch if (row[0], row[1]) not in known]
        FollowUpEscalation.objects.bulk_create(
            [
                FollowUpEscalation(customer_id=pk, due_date=due, consultant_id=owner)
                for pk, due, owner, _team in fresh
            ],
            ignore_conflicts=True,
        )
        for row in fresh:
            created_by_team[row[3]] = created_by_team.get(row[3], 0) + 1
        batch.clear()

    for row in overdue.iterator(chunk_size=5000):
        batch.append(row)
        if len(batch) >= 5000:
            flush()
    if batch:
        flush()
    managers = User.objects.filter(
        is_active=True,
        team_id__in=[t for t in created_by_team if t],
        groups__name=Role.SALES_MANAGER.value,
    ).distinct()
    for manager in managers:
        notify(
            user=manager,
            entry=sales_events.FOLLOW_UPS_OVERDUE(
                count=created_by_team[manager.team_id],
                days=settings.FOLLOW_UP_ESCALATE_DAYS,
            ),
            url=reverse("customers:customer-list") + "?follow_up=overdue",
        )
    return sum(created_by_team.values())


def _summary(digest: FollowUpDigest) -> events.Entry:
    """The digest's first line: an event, in the reader's language on the
    notification; str() of it writes the message in the active language."""
    return sales_events.FOLLOW_UP_DIGEST(
        due=digest.due_today, overdue=digest.overdue, lapsing=digest.lapsing
    )


class DigestKind(outbox.OutboxKind):
    name = "sales.follow_up_digest"
    label = gettext_lazy("Follow-up digests")
    model = FollowUpDigest

    def rows(self):
        return FollowUpDigest.objects.select_related("user")

    def compose(self, row: FollowUpDigest) -> outbox.Message | None:
        user = row.user
        if not user.is_active:  # left after the row was written
            return None
        if not user.email:
            return outbox.Message(outbox.Channel.APP, "", "", str(_summary(row)))
        lines = [str(_summary(row)), "", *_follow_up_lines(row.payload)]
        return outbox.Message(
            outbox.Channel.EMAIL,
            user.email,
            _("Your follow-ups for %(day)s") % {"day": row.day.isoformat()},
            "\n".join(lines),
        )

    def after_sent(self, row: FollowUpDigest, *, now: datetime) -> None:
        notify(user=row.user, entry=_summary(row), url=reverse("sales:my-day"))

    def describe(self, row: FollowUpDigest) -> str:
        return f"{row.user} · {row.day.isoformat()}"


DIGESTS = DigestKind()


def digest_send(*, digest_id: int) -> bool:
    """Deliver one digest; the claim makes a second delivery impossible."""
    return outbox.send_one(DIGESTS, digest_id)


def digests_stale(*, now: datetime | None = None) -> list[int]:
    """Digests to queue again: interrupted sends are settled with the provider first
    (sent, pending again, or parked), then every due pending row is returned."""
    outbox.recover_stale(DIGESTS, now=now)
    return outbox.due_ids(DIGESTS, now=now, limit=1000)
