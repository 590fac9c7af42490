"""What owners do themselves in the owners' portal, on the service side: messages that
tell them how their request moves (outbox rows), and their letters to the general
manager (总经理信箱) with the deadline to answer them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site.outbox import OutboxMessage, outbox_indexes


class MailboxSettings(models.Model):
    """The GM mailbox's deadline: one row, edited in the admin. A letter gets its
    deadline when it is written, so a change applies to letters written afterwards."""

    answer_within_days = models.PositiveSmallIntegerField(
        _("answer within (days)"), default=3
    )
    working_days_only = models.BooleanField(
        _("count working days only (Monday to Friday)"), default=True
    )

    class Meta:
        verbose_name = _("GM mailbox settings")
        verbose_name_plural = _("GM mailbox settings")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)

    @classmethod
    def current(cls) -> MailboxSettings:
        row, _created = cls.objects.get_or_create(pk=1)
        return row


class OwnerLetter(models.Model):
    """An owner's letter to the general manager (总经理信箱): answered by the executive
    or the service manager before its deadline, or escalated once when it passes."""

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="gm_letters",
        verbose_name=_("owner"),
    )
    unit = models.ForeignKey(
        "sales.Unit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("unit"),
    )
    # The unit's project, else the project of the owner's latest purchase: the
    # dashboard's project filter counts the letter there.
    project = models.ForeignKey(
        "sales.Project",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("project"),
    )
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("letter"))
    written_at = models.DateTimeField(_("written"), default=timezone.now)
    due_at = models.DateTimeField(_("answer by"))
    answer = models.TextField(_("answer"), blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("answered by"),
    )
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    # Set once by the escalation sweep when the deadline passed unanswered.
    escalated_at = models.DateTimeField(_("escalated"), null=True, blank=True)

    class Meta:
        verbose_name = _("letter to the general manager")
        verbose_name_plural = _("letters to the general manager")
        indexes = [
            models.Index(fields=["-written_at", "-id"], name="letter_written_idx"),
            # The queue and the sweep: unanswered letters in deadline order.
            models.Index(
                fields=["due_at", "id"],
                condition=Q(answered_at__isnull=True),
                name="letter_open_due_idx",
            ),
            models.Index(
                fields=["customer", "-written_at"], name="letter_customer_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.subject}"

    def get_absolute_url(self) -> str:
        return reverse("service:letter-detail", args=[self.pk])

    @property
    def number(self) -> str:
        return f"GM{timezone.localtime(self.written_at):%Y%m%d}-{self.pk:05d}"

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    @property
    def overdue(self) -> bool:
        if self.answered_at is not None:
            return self.answered_at > self.due_at
        return timezone.now() > self.due_at


class PortalNotice(OutboxMessage):
    """An outbox row (crm_site.outbox): tells an owner that the desk moved their portal
    request (one per step, so a step is announced once) or answered their letter (one
    per letter)."""

    request = models.ForeignKey(
        "service.ServiceRequest",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="portal_notices",
    )
    step = models.OneToOneField(
        "service.ServiceStep",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="portal_notice",
    )
    letter = models.OneToOneField(
        OwnerLetter,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notice",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("portal notice")
        verbose_name_plural = _("portal notices")
        constraints = [
            models.CheckConstraint(
                condition=Q(step__isnull=False, request__isnull=False, letter=None)
                | Q(step=None, request=None, letter__isnull=False),
                name="portal_notice_one_subject",
            )
        ]
        indexes = outbox_indexes("portal_notice")

    def __str__(self) -> str:
        return f"{self.request_id or self.letter_id} {self.status}"
