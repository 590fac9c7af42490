"""The consultants' morning digest and the escalation of overdue follow-ups.

build → one FollowUpDigest row per consultant and day (a unique key: running the job
twice creates nothing twice); send → each row is claimed with a conditional UPDATE,
delivered (in the app and by e-mail) and marked sent; a sweeper re-queues rows whose
message was lost, so a Redis outage or a crashed worker delays a digest, never loses
or repeats it.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from crm_site.models import JobRun, User
from crm_site.notifications import notify
from crm_site.roles import Role
from customers.models import Customer
from sales.models import FollowUpDigest, FollowUpEscalation, Registration

SAMPLE = 10
STALE_AFTER = timedelta(minutes=10)


def _lapsing(day: date):
    soon = timezone.now() + timedelta(days=3)
    return Registration.objects.filter(
        status=Registration.Status.PROTECTED, protected_until__lte=soon
    )


def digests_build(*, day: date | None = None) -> list[int]:
    """Create today's digest rows; returns the ids of rows still to send."""
    day = day or timezone.localdate()
    started = timezone.now()
    counts = (
        Customer.objects.live()
        .filter(next_follow_up__lte=day, assigned_consultant__isnull=False)
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
    for row in _lapsing(day).values("consultant").annotate(n=Count("id")):
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
    escalated = escalations_build(day=day)
    pending = list(
        FollowUpDigest.objects.filter(
            day=day, status=FollowUpDigest.Status.PENDING
        ).values_list("pk", flat=True)
    )
    JobRun.record(
        "follow_up_digest",
        started=started,
        result=f"{len(new)} digests, {escalated} escalations",
    )
    return pending


def _sample(user_id: int, day: date) -> dict:
    mine = Customer.objects.live().filter(assigned_consultant_id=user_id)
    due = mine.filter(next_follow_up__lte=day).order_by("next_follow_up", "pk")[:SAMPLE]
    return {
        "follow_ups": [
            {"id": c.pk, "name": c.name, "date": c.next_follow_up.isoformat()}
            for c in due
        ]
    }


def escalations_build(*, day: date) -> int:
    """Escalate follow-ups overdue for FOLLOW_UP_ESCALATE_DAYS, once per due date (a
    unique key), with one notification per sales manager listing how many."""
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
            message=_(
                "%(count)s follow-ups of your team are overdue by more than %(days)s days."
            )
            % {
                "count": created_by_team[manager.team_id],
                "days": settings.FOLLOW_UP_ESCALATE_DAYS,
            },
            url=reverse("customers:customer-list") + "?follow_up=overdue",
        )
    return sum(created_by_team.values())


def digest_send(*, digest_id: int) -> bool:
    """Deliver one digest; the conditional claim makes a second delivery impossible."""
    now = timezone.now()
    claimed = FollowUpDigest.objects.filter(
        pk=digest_id, status=FollowUpDigest.Status.PENDING
    ).update(status=FollowUpDigest.Status.SENDING, claimed_at=now)
    if not claimed:
        return False
    digest = FollowUpDigest.objects.select_related("user").get(pk=digest_id)
    user = digest.user
    with override(settings.LANGUAGE_CODE):
        summary = _(
            "Today: %(due)s follow-ups due, %(overdue)s overdue, %(lapsing)s customers about to return to the pool."
        ) % {
            "due": digest.due_today,
            "overdue": digest.overdue,
            "lapsing": digest.lapsing,
        }
        lines = [summary, ""]
        lines += [
            f"- {row['name']} ({row['date']})"
            for row in digest.payload.get("follow_ups", [])
        ]
        with transaction.atomic():
            notify(user=user, message=summary, url=reverse("sales:my-day"))
            if user.email:
                send_mail(
                    subject=_("Your follow-ups for %(day)s")
                    % {"day": digest.day.isoformat()},
                    message="\n".join(lines),
                    from_email=None,
                    recipient_list=[user.email],
                )
            FollowUpDigest.objects.filter(pk=digest_id).update(
                status=FollowUpDigest.Status.SENT, sent_at=timezone.now()
            )
    return True


def digests_stale() -> list[int]:
    """Rows whose message never arrived (pending for a while) or whose worker died."""
    now = timezone.now()
    FollowUpDigest.objects.filter(
        status=FollowUpDigest.Status.SENDING, claimed_at__lt=now - STALE_AFTER
    ).update(status=FollowUpDigest.Status.PENDING, claimed_at=None)
    return list(
        FollowUpDigest.objects.filter(
            status=FollowUpDigest.Status.PENDING,
            created_at__lt=now - timedelta(minutes=2),
        ).values_list("pk", flat=True)[:1000]
    )
