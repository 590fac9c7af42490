"""Satisfaction surveys: templates of weighted questions, invitations (an outbox row per
closed request or handover), and the owners' answers."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site.outbox import OutboxMessage, outbox_indexes


class SurveyTemplate(models.Model):
    class Occasion(models.TextChoices):
        REQUEST_CLOSED = "request_closed", _("After a request is closed")
        HANDOVER = "handover", _("After handover")

    name = models.CharField(_("name"), max_length=100)
    occasion = models.CharField(_("sent"), max_length=20, choices=Occasion.choices)
    intro = models.CharField(_("introduction"), max_length=300, blank=True)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("survey template")
        verbose_name_plural = _("survey templates")
        constraints = [
            models.UniqueConstraint(
                fields=["occasion"],
                condition=Q(is_active=True),
                name="survey_template_one_active",
            )
        ]

    def __str__(self) -> str:
        return self.name


class SurveyQuestion(models.Model):
    """A 1–5 scale question with its weight in the index (e.g. product quality 30)."""

    template = models.ForeignKey(
        SurveyTemplate,
        on_delete=models.CASCADE,
        related_name="questions",
        verbose_name=_("survey template"),
    )
    position = models.PositiveSmallIntegerField(_("position"))
    text = models.CharField(_("question"), max_length=200)
    weight = models.DecimalField(
        _("weight"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.01"))],
    )

    class Meta:
        verbose_name = _("survey question")
        verbose_name_plural = _("survey questions")
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "position"], name="survey_question_position"
            )
        ]

    def __str__(self) -> str:
        return self.text


class SurveyInvitation(OutboxMessage):
    """One survey to one owner, about one closed request or one handover (never twice:
    each link is unique). Sent once when due, reminded at most once, answered once."""

    template = models.ForeignKey(
        SurveyTemplate, on_delete=models.PROTECT, related_name="invitations"
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="survey_invitations",
        verbose_name=_("owner"),
    )
    project = models.ForeignKey(
        "sales.Project",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("project"),
    )
    request = models.OneToOneField(
        "service.ServiceRequest",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="survey_invitation",
    )
    appointment = models.OneToOneField(
        "service.HandoverAppointment",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="survey_invitation",
    )
    due_at = models.DateTimeField(_("send from"))
    # When its reminder (a SurveyReminder row) was sent.
    reminded_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("survey invitation")
        verbose_name_plural = _("survey invitations")
        constraints = [
            models.CheckConstraint(
                condition=Q(request__isnull=True, appointment__isnull=False)
                | Q(request__isnull=False, appointment__isnull=True),
                name="survey_invitation_one_subject",
            )
        ]
        indexes = [
            *outbox_indexes("survey_invitation"),
            models.Index(
                fields=["due_at"],
                condition=Q(status="pending"),
                name="survey_invitation_due_at_idx",
            ),
            models.Index(
                fields=["sent_at"],
                condition=Q(
                    status="sent", answered_at__isnull=True, reminded_at__isnull=True
                ),
                name="survey_invitation_remind_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template} · {self.customer}"


class SurveyReminder(OutboxMessage):
    """The one reminder to an owner who has not answered: an outbox row whose key is
    its invitation, so no invitation is reminded twice."""

    invitation = models.OneToOneField(
        SurveyInvitation,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="reminder",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("survey reminder")
        verbose_name_plural = _("survey reminders")
        indexes = outbox_indexes("survey_reminder")

    def __str__(self) -> str:
        return f"{self.invitation_id} {self.status}"


class SurveyResponse(models.Model):
    invitation = models.OneToOneField(
        SurveyInvitation, on_delete=models.CASCADE, related_name="response"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="survey_responses"
    )
    project = models.ForeignKey(
        "sales.Project", null=True, on_delete=models.PROTECT, related_name="+"
    )
    # The satisfaction index (0–100) of this answer, kept so reports only average it.
    index = models.DecimalField(max_digits=5, decimal_places=2)
    comment = models.TextField(_("comment"), blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("survey response")
        verbose_name_plural = _("survey responses")
        indexes = [
            models.Index(
                fields=["project", "submitted_at"], name="survey_response_month_idx"
            ),
            models.Index(fields=["-submitted_at"], name="survey_response_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer} {self.index}"


class SurveyAnswer(models.Model):
    response = models.ForeignKey(
        SurveyResponse, on_delete=models.CASCADE, related_name="answers"
    )
    question = models.ForeignKey(
        SurveyQuestion, on_delete=models.PROTECT, related_name="answers"
    )
    score = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["response", "question"], name="survey_answer_once"
            ),
            models.CheckConstraint(
                condition=Q(score__gte=1, score__lte=5), name="survey_answer_scale"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.question_id}: {self.score}"
