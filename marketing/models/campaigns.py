"""Campaigns, their cost, their members (a snapshot of a segment), the invitations
sent to them (an outbox, one row per member and channel) and their responses."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site.outbox import OutboxMessage, outbox_indexes
from marketing.codes import code_db_default, display_code, normalize_code


def campaign_today(now: datetime | None = None) -> date:
    """Today (the day of ``now``) in the house's time zone (Asia/Shanghai), whatever
    the request activated: a campaign's end date is a calendar day there, and it
    runs through that day."""
    return timezone.localdate(now, timezone=timezone.get_default_timezone())


class CampaignQuerySet(models.QuerySet):
    def running(self, today: date | None = None) -> CampaignQuerySet:
        """Running and not past the end date: what takes sign-ups and check-ins. A
        running campaign past it is finished, whether or not the hourly task has
        recorded it yet (campaign_status_idx)."""
        return self.filter(
            status=Campaign.Status.RUNNING, ends_on__gte=today or campaign_today()
        )

    def past_end(self, today: date | None = None) -> CampaignQuerySet:
        """Still recorded as running, but the end date has passed: finished."""
        return self.filter(
            status=Campaign.Status.RUNNING, ends_on__lt=today or campaign_today()
        )

    def may_credit(self, project_id: int) -> CampaignQuerySet:
        """The campaigns a deal at this project may be credited to: the project's own
        (every campaign has one), never a cancelled one (sales.attribution agrees)."""
        return self.filter(project_id=project_id).exclude(
            status=Campaign.Status.CANCELLED
        )

    def in_status(self, status: str) -> CampaignQuerySet:
        """The campaigns whose status, as shown (Campaign.current_status), is this."""
        if status == Campaign.Status.RUNNING:
            return self.running()
        if status == Campaign.Status.FINISHED:
            return self.filter(
                Q(status=Campaign.Status.FINISHED)
                | Q(status=Campaign.Status.RUNNING, ends_on__lt=campaign_today())
            )
        return self.filter(status=status)


class Campaign(models.Model):
    class Kind(models.TextChoices):
        EVENT = "event", _("Event")
        EXHIBITION = "exhibition", _("Exhibition")
        ADVERTISING = "advertising", _("Advertising")
        WEB = "web", _("Web")
        SMS = "sms", _("SMS")
        EMAIL = "email", _("E-mail")
        REFERRAL = "referral", _("Referral drive")

    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        RUNNING = "running", _("Running")
        FINISHED = "finished", _("Finished")
        CANCELLED = "cancelled", _("Cancelled")

    # The moves a campaign may make; anything else is refused.
    TRANSITIONS: dict[str, set[str]] = {
        Status.PLANNED: {Status.RUNNING, Status.CANCELLED},
        # Past its end date too, before the hourly job records it as finished: a
        # campaign called off is cancelled, even a day late.
        Status.RUNNING: {Status.FINISHED, Status.CANCELLED},
        # An event called off whose cancellation is recorded late, after the hourly
        # job finished it at its end date: cancelled, it leaves the return's figures.
        Status.FINISHED: {Status.CANCELLED},
        Status.CANCELLED: set(),
    }

    # What the campaign form edits (and the audit trail records, with the status).
    EDITABLE_FIELDS = [
        "name",
        "kind",
        "project",
        "segment",
        "starts_on",
        "ends_on",
        "budget",
        "invite_email",
        "invite_sms",
        "email_subject",
        "message",
        "min_level",
    ]

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices)
    project = models.ForeignKey(
        "sales.Project",
        on_delete=models.PROTECT,
        related_name="campaigns",
        verbose_name=_("project"),
    )
    segment = models.ForeignKey(
        "marketing.Segment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        verbose_name=_("target segment"),
    )
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))
    budget = models.DecimalField(
        _("budget"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PLANNED
    )
    # The invitation: which channels, and what it says.
    invite_email = models.BooleanField(_("invite by e-mail"), default=False)
    invite_sms = models.BooleanField(_("invite by SMS"), default=False)
    email_subject = models.CharField(_("e-mail subject"), max_length=150, blank=True)
    message = models.TextField(_("invitation text"), blank=True)
    # A club event (会员活动): only members of this level or above are invited, and
    # only they may sign up.
    min_level = models.ForeignKey(
        "marketing.ClubLevel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        verbose_name=_("club members from level"),
        help_text=_(
            "Events only: invite only club members of this level or above. Empty: "
            "everyone in the segment."
        ),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    objects = CampaignQuerySet.as_manager()

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-starts_on", "-id"]
        permissions = [
            ("run_campaigns", _("Can plan, run and check guests into campaigns")),
            ("attribute_deal", _("Can change the campaign a deal is credited to")),
        ]
        indexes = [
            models.Index(fields=["status", "-starts_on"], name="campaign_status_idx"),
            models.Index(fields=["project", "-starts_on"], name="campaign_project_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")),
                name="campaign_dates_ordered",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("marketing:campaign-detail", args=[self.pk])

    @property
    def channels(self) -> list[str]:
        return [
            channel
            for channel, wanted in (
                (Invitation.Channel.EMAIL, self.invite_email),
                (Invitation.Channel.SMS, self.invite_sms),
            )
            if wanted
        ]

    @property
    def past_end(self) -> bool:
        """Running, but its end date (inclusive, in Asia/Shanghai) has passed."""
        return self.status == self.Status.RUNNING and self.ends_on < campaign_today()

    @property
    def current_status(self) -> str:
        """The status every read decides by: a running campaign past its end date
        is finished, before marketing.tasks.campaigns_finish records it."""
        return self.Status.FINISHED if self.past_end else self.status

    @property
    def is_running(self) -> bool:
        return self.current_status == self.Status.RUNNING

    def get_current_status_display(self) -> str:
        return str(self.Status(self.current_status).label)

    @property
    def start_too_late(self) -> bool:
        """Planned, but its end date (inclusive, in Asia/Shanghai) has passed: it
        would run for no day at all, so it starts only once its dates are changed."""
        return self.status == self.Status.PLANNED and self.ends_on < campaign_today()

    def can_move_to(self, status: str) -> bool:
        if status == self.Status.RUNNING and self.start_too_late:
            return False
        return status in self.TRANSITIONS.get(self.status, set())

    def move_to(self, status: str) -> bool:
        """Validate and apply a status change; False when already there. The caller
        holds the row lock and records the audit entry."""
        if status == self.status:
            return False
        if status == self.Status.RUNNING and self.start_too_late:
            raise ValidationError(
                _(
                    "The campaign's end date %(day)s has passed: change its dates "
                    "before starting it."
                )
                % {"day": self.ends_on.isoformat()}
            )
        if not self.can_move_to(status):
            raise ValidationError(
                _("A campaign cannot move from %(old)s to %(new)s.")
                % {
                    "old": self.get_current_status_display(),
                    "new": self.Status(status).label,
                }
            )
        ended_by_date = self.past_end
        self.status = status
        if status == self.Status.RUNNING:
            self.started_at = timezone.now()
        elif ended_by_date:
            # It ran through its last day: it ended at midnight after it, however
            # late the finishing task ran.
            self.ended_at = timezone.make_aware(
                datetime.combine(self.ends_on + timedelta(days=1), time.min),
                timezone.get_default_timezone(),
            )
        else:
            self.ended_at = timezone.now()
        self.save(update_fields=["status", "started_at", "ended_at"])
        return True

    move_to.alters_data = True


class CostLine(models.Model):
    """Money actually spent on a campaign: one invoice or expense."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="cost_lines"
    )
    spent_on = models.DateField(_("date"))
    item = models.CharField(_("item"), max_length=150)
    amount = models.DecimalField(
        _("amount"),
        max_digits=14,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("cost line")
        verbose_name_plural = _("cost lines")
        indexes = [
            models.Index(fields=["campaign", "spent_on"], name="cost_line_campaign_idx")
        ]

    def __str__(self) -> str:
        return f"{self.item} {self.amount}"


class CampaignMember(models.Model):
    """A customer the campaign targets, snapshotted from its segment when it started.
    The member's code (on the invitation, typed or scanned at the door) is random,
    drawn by the database on insert (marketing.codes)."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="members"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="campaign_members"
    )
    added_at = models.DateTimeField(default=timezone.now)
    code = models.CharField(
        _("invitation code"),
        max_length=12,
        db_default=code_db_default(),
        editable=False,
    )

    class Meta:
        verbose_name = _("campaign member")
        verbose_name_plural = _("campaign members")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "customer"], name="campaign_member_unique"
            ),
            # Also the index the door's look-up by code uses.
            models.UniqueConstraint(
                fields=["campaign", "code"], name="campaign_member_code_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["customer"], name="campaign_member_customer_idx")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.customer_id}"

    @property
    def code_display(self) -> str:
        return display_code(self.code)

    @staticmethod
    def normalize_code(code: str) -> str | None:
        return normalize_code(code)


class Invitation(OutboxMessage):
    """An outbox row (crm_site.outbox): one message to one member on one channel,
    claimed before it is handed to the provider and marked sent after, so a sender
    that crashes and runs again never sends a row twice."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        SMS = "sms", _("SMS")

    class Status(models.TextChoices):
        PENDING = "pending", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Skipped (no consent)")
        FAILED = "failed", _("Failed")
        UNKNOWN = "unknown", _("Outcome unknown (parked for review)")
        WITHDRAWN = "withdrawn", _("Not sent (campaign ended)")

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="invitations"
    )
    member = models.ForeignKey(
        CampaignMember, on_delete=models.CASCADE, related_name="invitations"
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "channel"], name="invitation_member_channel_unique"
            )
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="invitation_status_idx"),
            *outbox_indexes("invitation"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.channel} {self.status}"


class Response(models.Model):
    """A member answered: signed up, or came and checked in at the door."""

    class Kind(models.TextChoices):
        SIGNUP = "signup", _("Signed up")
        CHECKIN = "checkin", _("Checked in")

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="responses"
    )
    member = models.ForeignKey(
        CampaignMember, on_delete=models.CASCADE, related_name="responses"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("response"), max_length=10, choices=Kind.choices)
    at = models.DateTimeField(_("when"), default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The consultant the response was handed to as a lead (none: owned already, or
    # left in the public pool).
    lead_consultant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("lead handed to"),
    )

    class Meta:
        verbose_name = _("campaign response")
        verbose_name_plural = _("campaign responses")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "kind"], name="campaign_response_unique"
            )
        ]
        indexes = [
            models.Index(fields=["campaign", "kind"], name="response_campaign_idx"),
            models.Index(fields=["customer", "-at"], name="response_customer_idx"),
            # The overview's responses of a period, and the list behind them.
            models.Index(fields=["-at", "id"], name="response_at_idx"),
            models.Index(
                fields=["campaign", "-at"],
                condition=Q(lead_consultant__isnull=False),
                name="response_lead_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.kind}"
