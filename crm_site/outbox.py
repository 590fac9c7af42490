"""The one outbox: every message that must reach someone is a row first.

Each kind of message (a consultant's digest, a handover notice, a survey invitation or
reminder, a campaign invitation) is a model built on ``OutboxMessage`` and an
``OutboxKind`` that says how to compose it and what follows once it is sent. Everything
else is here, once:

- claim: ``SELECT … FOR UPDATE SKIP LOCKED`` in small batches (pending → sending), so
  two workers, a task delivered twice or a sweeper racing a worker take each row once;
- send: the message goes to the provider with the row's idempotency key; success marks
  it sent, a refusal schedules another attempt with a growing delay (back-off) until
  ``max_attempts``, then it is failed;
- stale: a row left "sending" by a worker that died is settled by what it got to.
  Never handed over (``handed_over_at`` empty: the rest of a crashed batch, or a
  crash while composing): pending again at once, failed once its attempts are used.
  Handed over: checked with the provider by its key: accepted → sent, not accepted →
  counted as a refusal (back-off, failed after ``max_attempts``, so a send that kills
  its worker every time is not retried for ever), cannot tell → parked as "unknown"
  for a person to decide (``message_send_again`` / ``message_mark_sent``). It is
  never sent again blindly. Each stale row is settled on its own: one row's error
  does not hold up the others.

A kind may bring its own channel: it overrides ``deliver`` (how the message leaves,
e.g. a webhook's signed HTTP POST), ``lookup`` (what a stale row's outcome is on that
channel), ``backoff`` (how long it waits after a refusal) and ``refused`` (what
follows a refusal). The claim, the send, the retry and the stale check stay here.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

from crm_site import messaging

logger = logging.getLogger(__name__)

# Rows one claim takes: small, so a worker that dies strands few, and constant queries.
CLAIM_BATCH = 20
# The first retry after a refusal waits this long, each next one twice as long.
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
# What a stale row that cannot be checked records as its error.
UNKNOWN_ERROR = (
    "Interrupted while sending; the provider cannot say whether it was sent."
)


class Status(models.TextChoices):
    PENDING = "pending", _("To send")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Not sent (no consent or contact)")
    UNKNOWN = "unknown", _("Outcome unknown (parked for review)")


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")
    # Only a notification inside the CRM: written in the same transaction as "sent".
    APP = "app", _("In the CRM")
    # An HTTP POST to an integration (crm_site.webhooks): the kind delivers it itself.
    WEBHOOK = "webhook", _("Webhook")


class OutboxMessage(models.Model):
    """The columns every outgoing message has. A model that extends it adds what the
    message is about, and ``outbox_indexes()`` to its Meta.indexes."""

    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    channel = models.CharField(_("channel"), max_length=10, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # Not before this time: when it was queued, or when a refused send may be retried.
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Set just before the message is handed to the provider (cleared by each claim):
    # only such a row, when a worker dies, may have reached it.
    handed_over_at = models.DateTimeField(null=True, blank=True, editable=False)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    # Given to the provider with the message, so it accepts a repeat once and can say
    # whether it has it after a crash.
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    message_id = models.CharField(_("provider message id"), max_length=200, blank=True)
    error = models.CharField(_("last error"), max_length=300, blank=True)

    class Meta:
        abstract = True


def outbox_indexes(prefix: str) -> list[models.Index]:
    """The partial indexes the claim, the stale check and the review page read."""
    return [
        models.Index(
            fields=["next_attempt_at"],
            condition=Q(status="pending"),
            name=f"{prefix}_due_idx",
        ),
        models.Index(
            fields=["claimed_at"],
            condition=Q(status__in=["sending", "unknown"]),
            name=f"{prefix}_claim_idx",
        ),
    ]


@dataclass(frozen=True)
class Message:
    channel: str
    address: str
    subject: str
    text: str
    html: str | None = None
    # Files sent with an e-mail (a report's workbook), computed when composing.
    attachments: tuple[messaging.Attachment, ...] = ()


class OutboxKind:
    """How one kind of message is sent. Subclasses set ``name``, ``label`` and
    ``model`` and write ``compose``; the rest has defaults."""

    name: str
    label: str
    model: type[OutboxMessage]
    max_attempts = 5
    # A permission a reviewer of parked messages (crm_site.review_outbox) also needs
    # to see and decide on this kind's ("": the review permission is enough). A
    # kind whose rows name people or data outside the service desk's reach sets it.
    reviewed_by = ""

    @property
    def stale_after(self) -> timedelta:
        """A row "sending" for longer than this was interrupted (no send takes
        minutes); OUTBOX_STALE_AFTER_SECONDS, 10 minutes by default."""
        return timedelta(seconds=settings.OUTBOX_STALE_AFTER_SECONDS)

    def rows(self) -> QuerySet:
        """The rows with what compose, after_sent and describe read."""
        return self.model.objects.all()

    def ready(self, now: datetime) -> Q:
        """Further conditions for a pending row to be sent now (due date, campaign)."""
        return Q()

    def compose(self, row: OutboxMessage) -> Message | None:
        """The message, decided at send time (consent, address); None: skip it."""
        raise NotImplementedError

    def after_sent(self, row: OutboxMessage, *, now: datetime) -> None:
        """Runs in the transaction that marks the row sent (timeline, notification)."""

    def describe(self, row: OutboxMessage) -> str:
        return str(row)

    # A kind with its own channel overrides these four.

    def deliver(self, row: OutboxMessage, message: Message) -> str:
        """Hand the message over; the provider's message id, or SendFailed."""
        return deliver(message, key=str(row.idempotency_key))

    def lookup(self, row: OutboxMessage) -> messaging.Lookup:
        """Whether a row a dead worker left "sending" reached the provider."""
        return lookup(row.channel, str(row.idempotency_key))

    def backoff(self, attempts: int) -> timedelta:
        """How long a refused row waits before its next attempt."""
        return backoff(attempts)

    def refused(
        self, row: OutboxMessage, *, error: str, now: datetime, failed: bool
    ) -> None:
        """Runs after a refusal was recorded (``failed``: no attempt is left)."""


_kinds: dict[str, OutboxKind] = {}


def register(kind: OutboxKind) -> OutboxKind:
    """Each app registers its kinds in AppConfig.ready(); the review page lists them."""
    _kinds[kind.name] = kind
    return kind


def kinds() -> list[OutboxKind]:
    return list(_kinds.values())


def kind_named(name: str) -> OutboxKind:
    return _kinds[name]


# Claim and send -------------------------------------------------------------------


def _pending(kind: OutboxKind, now: datetime) -> QuerySet:
    return kind.model.objects.filter(
        kind.ready(now), status=Status.PENDING, next_attempt_at__lte=now
    )


def claim(
    kind: OutboxKind,
    *,
    now: datetime | None = None,
    limit: int = CLAIM_BATCH,
    only: Q | None = None,
) -> list[int]:
    """Take up to ``limit`` due rows for this worker (pending → sending); rows another
    worker holds are skipped, not waited for. Two queries, whatever the batch."""
    now = now or timezone.now()
    with transaction.atomic():
        pks = list(
            _pending(kind, now)
            .filter(only or Q())
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if pks:
            kind.model.objects.filter(pk__in=pks).update(
                status=Status.SENDING,
                claimed_at=now,
                handed_over_at=None,
                attempts=F("attempts") + 1,
            )
    return pks


def deliver(message: Message, *, key: str) -> str:
    if message.channel == Channel.APP:
        return ""
    if message.channel == Channel.EMAIL:
        return messaging.send_email(
            message.address,
            message.subject,
            message.text,
            message.html,
            key=key,
            attachments=message.attachments,
        )
    return messaging.send_sms(message.address, message.text, key=key)


def lookup(channel: str, key: str) -> messaging.Lookup:
    if channel == Channel.APP:
        # The notification is written with "sent": not sent means not delivered.
        return messaging.NOT_ACCEPTED
    if channel == Channel.EMAIL:
        return messaging.lookup_email(key)
    return messaging.lookup_sms(key)


def backoff(attempts: int) -> timedelta:
    return min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


def send_claimed(kind: OutboxKind, pk: int, *, now: datetime | None = None) -> bool:
    """Send one row this worker claimed; True when the provider accepted it."""
    model = kind.model
    row = kind.rows().filter(pk=pk, status=Status.SENDING).first()
    if row is None:
        return False
    try:
        with override(settings.LANGUAGE_CODE):
            message = kind.compose(row)
    except Exception as exc:  # a bug or missing data: retried, then failed, not stuck
        logger.exception("%s %s could not be composed", kind.name, pk)
        _refused(kind, row, f"{type(exc).__name__}: {exc}", now=now or timezone.now())
        return False
    if message is None:
        model.objects.filter(pk=pk, status=Status.SENDING).update(status=Status.SKIPPED)
        return False
    # Recorded before the provider sees it: a crash is then checked on this channel.
    row.channel = message.channel
    model.objects.filter(pk=pk).update(
        channel=message.channel, handed_over_at=timezone.now()
    )
    try:
        message_id = kind.deliver(row, message)
    except messaging.SendFailed as exc:
        _refused(kind, row, str(exc), now=now or timezone.now())
        return False
    return mark_sent(kind, row, message_id=message_id, now=timezone.now())


def _refused(kind: OutboxKind, row: OutboxMessage, error: str, *, now: datetime):
    logger.warning("%s %s not sent: %s", kind.name, row.pk, error)
    failed = row.attempts >= kind.max_attempts
    if failed:
        changes = {"status": Status.FAILED}
    else:
        changes = {
            "status": Status.PENDING,
            "next_attempt_at": now + kind.backoff(row.attempts),
        }
    if kind.model.objects.filter(pk=row.pk, status=Status.SENDING).update(
        error=error[:300], claimed_at=None, handed_over_at=None, **changes
    ):
        kind.refused(row, error=error, now=now, failed=failed)


def mark_sent(
    kind: OutboxKind,
    row: OutboxMessage,
    *,
    message_id: str,
    now: datetime,
    was: Iterable[str] = (Status.SENDING,),
) -> bool:
    """Sending (or parked) → sent, with what follows a sent message, in one
    transaction; False when another worker settled the row first."""
    with transaction.atomic(), override(settings.LANGUAGE_CODE):
        done = kind.model.objects.filter(pk=row.pk, status__in=list(was)).update(
            status=Status.SENT, sent_at=now, message_id=message_id[:200], error=""
        )
        if done:
            kind.after_sent(row, now=now)
    return bool(done)


def send_one(kind: OutboxKind, pk: int, *, now: datetime | None = None) -> bool:
    """The task body for one row: claim it (if it is due and free) and send it."""
    if not claim(kind, now=now, limit=1, only=Q(pk=pk)):
        return False
    return send_claimed(kind, pk, now=now)


def send_due(
    kind: OutboxKind,
    *,
    now: datetime | None = None,
    limit: int | None = None,
    only: Q | None = None,
) -> int:
    """Claim and send due rows batch by batch, up to ``limit`` (a rate limit) or until
    none is left; returns how many were handed to the provider."""
    sent = handled = 0
    while limit is None or handled < limit:
        size = CLAIM_BATCH if limit is None else min(CLAIM_BATCH, limit - handled)
        pks = claim(kind, now=now, limit=size, only=only)
        if not pks:
            break
        for pk in pks:
            try:
                sent += send_claimed(kind, pk, now=now)
            except SoftTimeLimitExceeded:
                raise
            except Exception:  # one row's bug: the others of the batch still go
                # Left "sending": the stale check settles it by what it got to.
                logger.exception("%s %s: sending failed", kind.name, pk)
        handled += len(pks)
    return sent


def due_ids(
    kind: OutboxKind, *, now: datetime | None = None, limit: int = 5000
) -> list[int]:
    """Rows a sweeper queues a task for (their own task was lost or is late)."""
    now = now or timezone.now()
    return list(
        _pending(kind, now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


# Stale rows -----------------------------------------------------------------------


@dataclass
class Recovered:
    sent: int = 0
    requeued: int = 0
    parked: int = 0
    failed: int = 0


# What a stale row records when the provider says it never got it.
INTERRUPTED_ERROR = "Interrupted while sending; the provider did not receive it."


def recover_stale(
    kind: OutboxKind, *, now: datetime | None = None, limit: int = 500
) -> Recovered:
    """Settle rows left "sending" by a worker that died, each in its own transaction
    (a row whose settling fails is parked with its error, the others go on)."""
    now = now or timezone.now()
    outcome = Recovered()
    pks = list(
        kind.model.objects.filter(
            status=Status.SENDING, claimed_at__lt=now - kind.stale_after
        )
        .order_by("claimed_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in pks:
        try:
            with transaction.atomic():
                row = (
                    kind.rows()
                    .select_for_update(skip_locked=True, of=("self",))
                    .filter(pk=pk, status=Status.SENDING)
                    .first()
                )
                if row is not None:
                    _settle_stale(kind, row, now=now, outcome=outcome)
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:  # a bug in one row's follow-up: park it, go on
            logger.exception("%s %s could not be settled", kind.name, pk)
            kind.model.objects.filter(pk=pk, status=Status.SENDING).update(
                status=Status.UNKNOWN, error=f"{type(exc).__name__}: {exc}"[:300]
            )
            outcome.parked += 1
    if outcome.parked:
        logger.warning("%s: %s messages parked for review", kind.name, outcome.parked)
    return outcome


def _settle_stale(
    kind: OutboxKind, row: OutboxMessage, *, now: datetime, outcome: Recovered
) -> None:
    model = kind.model
    if row.handed_over_at is None:
        # Never reached the provider: again at once, unless its attempts are used
        # (a message whose composing kills the worker each time ends failed).
        if row.attempts >= kind.max_attempts:
            _refused(kind, row, INTERRUPTED_ERROR, now=now)
            outcome.failed += 1
        else:
            model.objects.filter(pk=row.pk).update(
                status=Status.PENDING, next_attempt_at=now, claimed_at=None
            )
            outcome.requeued += 1
        return
    answer = kind.lookup(row)
    if isinstance(answer, messaging.Accepted):
        mark_sent(kind, row, message_id=answer.message_id, now=now)
        outcome.sent += 1
    elif answer == messaging.NOT_ACCEPTED:
        # Handed over and lost (a send the time limit killed): a refusal.
        _refused(kind, row, INTERRUPTED_ERROR, now=now)
        if row.attempts >= kind.max_attempts:
            outcome.failed += 1
        else:
            outcome.requeued += 1
    else:
        model.objects.filter(pk=row.pk).update(
            status=Status.UNKNOWN, error=UNKNOWN_ERROR
        )
        outcome.parked += 1


# Review of parked messages ----------------------------------------------------------

PARKED_SHOWN = 100


@dataclass
class ParkedGroup:
    kind: OutboxKind
    total: int
    rows: list[tuple[OutboxMessage, str]]


def may_review(user, kind: OutboxKind) -> bool:
    return not kind.reviewed_by or user.has_perm(kind.reviewed_by)


def parked_groups(user) -> list[ParkedGroup]:
    """Parked messages of every kind ``user`` reviews (the oldest first), two
    queries per kind."""
    groups = []
    for kind in kinds():
        if not may_review(user, kind):
            continue
        parked = kind.rows().filter(status=Status.UNKNOWN)
        total = parked.count()
        rows = list(parked.order_by("claimed_at", "pk")[:PARKED_SHOWN]) if total else []
        groups.append(
            ParkedGroup(
                kind=kind, total=total, rows=[(r, kind.describe(r)) for r in rows]
            )
        )
    return groups


def _audit(actor, row: OutboxMessage, new: str) -> None:
    from crm_site.audit import audit_record
    from crm_site.models import AuditEntry

    audit_record(
        actor=actor,
        instance=row,
        action=AuditEntry.Action.UPDATE,
        changes={"status": {"old": Status.UNKNOWN.value, "new": new}},
    )


@transaction.atomic
def message_send_again(*, actor, kind: OutboxKind, pk: int) -> bool:
    """A reviewer decided the parked message did not arrive: it is sent again (with
    the same key, so a provider that has it still accepts it once)."""
    row = kind.rows().select_for_update(of=("self",)).filter(pk=pk).first()
    if row is None or row.status != Status.UNKNOWN:
        return False
    kind.model.objects.filter(pk=pk).update(
        status=Status.PENDING,
        next_attempt_at=timezone.now(),
        claimed_at=None,
        attempts=0,
        error="",
    )
    _audit(actor, row, Status.PENDING)
    return True


@transaction.atomic
def message_mark_sent(*, actor, kind: OutboxKind, pk: int) -> bool:
    """A reviewer established that the parked message did arrive."""
    row = kind.rows().select_for_update(of=("self",)).filter(pk=pk).first()
    if row is None or row.status != Status.UNKNOWN:
        return False
    mark_sent(kind, row, message_id="", now=timezone.now(), was=[Status.UNKNOWN])
    _audit(actor, row, Status.SENT)
    return True
