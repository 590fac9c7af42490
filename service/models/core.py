"""Service: owners' requests (complaints, repairs...), their deadlines, hand-overs to the
departments that fix them, escalations, and the callback that closes them."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm_site import events
from crm_site.audit import AuditedQuerySet


class ServiceAccess(models.Model):
    """Holds the service permissions; no table."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("service access")
        permissions = [
            ("view_service_desk", _("Can see the service desk")),
            (
                "view_service_management",
                _("Can see the service dashboard and survey results"),
            ),
            ("use_service", _("Can use the service desk")),
            ("manage_service", _("Can manage the service desk")),
            # One-stop intake (首问负责制): whoever takes the call records it, in
            # any role that takes calls, and follows what they recorded.
            (
                "record_service_request",
                _("Can record a service request from a caller"),
            ),
            (
                "view_service_request",
                _("Can see service requests (the desk's, or those they recorded)"),
            ),
            # The general manager's mailbox (总经理信箱): the queue of owners' letters,
            # and answering them (the executive's only action).
            ("view_gm_mailbox", _("Can see the letters to the general manager")),
            ("answer_gm_letter", _("Can answer letters to the general manager")),
        ]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


def overdue_q(now) -> Q:
    """Requests past a deadline they still owe: not answered by the response
    deadline, or not resolved by the resolution one. The same rule as
    ServiceRequest.overdue (the rows drawn red) and the insight facts, so the
    queue's "Overdue" tab and every count list what the rows mark red. (The
    escalation sweep gives a reopened request a fresh resolution window; the
    figures keep its first deadline.)"""
    return Q(status="received", response_due__lt=now) | Q(
        status__in=["received", "assigned", "in_progress"], resolution_due__lt=now
    )


class ServiceRequestQuerySet(AuditedQuerySet):
    def overdue(self, now=None) -> models.QuerySet:
        return self.filter(overdue_q(now or timezone.now()))

    def visible_to(self, user) -> models.QuerySet:
        """The service desk sees every request; anyone else who records requests
        sees those they received (首问负责制), and nothing more."""
        if not user.is_authenticated:
            return self.none()
        if user.has_perm("service.view_service_desk"):
            return self
        if user.has_perm("service.view_service_request"):
            # request_receiver_idx (receiver, status) serves this.
            return self.filter(receiver=user)
        return self.none()


class Category(models.TextChoices):
    CONSTRUCTION = "construction", _("Construction quality")
    DESIGN = "design", _("Design")
    PROPERTY_MANAGEMENT = "property_management", _("Property management")
    SALES_COMMUNICATION = "sales_communication", _("Communication during the sale")
    PLUMBING = "plumbing", _("Plumbing and water leaks")
    ELECTRICAL = "electrical", _("Electrical")
    DOORS_WINDOWS = "doors_windows", _("Doors and windows")
    WALLS_FLOORS = "walls_floors", _("Walls, floors and ceilings")
    OTHER = "other", _("Other")


class Severity(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class Department(models.TextChoices):
    ENGINEERING = "engineering", _("Engineering")
    PROPERTY = "property", _("Property management company")
    SALES = "sales", _("Sales office")
    DESIGN = "design", _("Design institute")
    CONTRACTOR = "contractor", _("Outside contractor")


class DeadlineRule(models.Model):
    """Hours to respond and to resolve, per category and severity (a blank category
    is the default for its severity)."""

    category = models.CharField(
        _("category"), max_length=30, choices=Category.choices, blank=True
    )
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices)
    response_hours = models.PositiveSmallIntegerField(_("respond within (hours)"))
    resolution_hours = models.PositiveSmallIntegerField(_("resolve within (hours)"))

    class Meta:
        verbose_name = _("deadline rule")
        verbose_name_plural = _("deadline rules")
        constraints = [
            models.UniqueConstraint(
                fields=["category", "severity"], name="deadline_rule_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.category or '*'}/{self.severity}: {self.response_hours}h/{self.resolution_hours}h"


# Used when no rule is set: (response hours, resolution hours) by severity.
DEFAULT_HOURS = {
    Severity.URGENT: (2, 24),
    Severity.HIGH: (4, 72),
    Severity.NORMAL: (24, 168),
    Severity.LOW: (48, 336),
}


class ServiceRequest(models.Model):
    class Kind(models.TextChoices):
        COMPLAINT = "complaint", _("Complaint")
        REPAIR = "repair", _("Repair request")
        INQUIRY = "inquiry", _("Inquiry")
        SUGGESTION = "suggestion", _("Suggestion")

    class Status(models.TextChoices):
        RECEIVED = "received", pgettext_lazy("service request status", "Received")
        ASSIGNED = "assigned", _("Assigned")
        IN_PROGRESS = "in_progress", _("In progress")
        RESOLVED = "resolved", _("Resolved")
        CALLED_BACK = "called_back", _("Called back")
        CLOSED = "closed", _("Closed")

    class Channel(models.TextChoices):
        PHONE = "phone", _("Phone")
        WALK_IN = "walk_in", _("Walk-in")
        WECHAT = "wechat", _("WeChat")
        WEB = "web", _("Web")
        PROPERTY = "property", _("Via property management")
        # Submitted by the owner in the owners' portal: no receiver until an agent
        # accepts it (service.portal_requests.request_accept).
        PORTAL = "portal", _("Owner portal")

    # The moves a request may make; "not satisfied" at callback reopens it.
    TRANSITIONS: dict[str, set[str]] = {
        Status.RECEIVED: {Status.ASSIGNED, Status.IN_PROGRESS},
        Status.ASSIGNED: {Status.ASSIGNED, Status.IN_PROGRESS},
        Status.IN_PROGRESS: {Status.ASSIGNED, Status.RESOLVED},
        Status.RESOLVED: {Status.CALLED_BACK, Status.IN_PROGRESS},
        Status.CALLED_BACK: {Status.CLOSED, Status.IN_PROGRESS},
        Status.CLOSED: set(),
    }
    OPEN = (
        Status.RECEIVED,
        Status.ASSIGNED,
        Status.IN_PROGRESS,
        Status.RESOLVED,
        Status.CALLED_BACK,
    )

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="service_requests",
        verbose_name=_("owner"),
    )
    unit = models.ForeignKey(
        "sales.Unit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="service_requests",
        verbose_name=_("unit"),
    )
    category = models.CharField(_("category"), max_length=30, choices=Category.choices)
    severity = models.CharField(
        _("severity"), max_length=10, choices=Severity.choices, default=Severity.NORMAL
    )
    channel = models.CharField(
        _("channel"), max_length=20, choices=Channel.choices, default=Channel.PHONE
    )
    description = models.TextField(_("description"))
    # First-receiver responsibility (首问负责制): whoever records it stays accountable.
    # Empty only for a portal request nobody has accepted yet.
    receiver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="received_requests",
        verbose_name=_("accountable receiver"),
    )
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    department = models.CharField(
        _("handled by"), max_length=20, choices=Department.choices, blank=True
    )
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="handled_requests",
        verbose_name=_("handler"),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.RECEIVED
    )
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    response_due = models.DateTimeField(_("respond by"))
    resolution_due = models.DateTimeField(_("resolve by"))
    responded_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    satisfied = models.BooleanField(_("owner satisfied"), null=True, blank=True)
    callback_note = models.CharField(_("callback note"), max_length=300, blank=True)
    reopen_count = models.PositiveSmallIntegerField(default=0)
    # The last time a callback sent it back to work: contractors' scorecards compare it
    # with their sign-off without reading the steps.
    reopened_at = models.DateTimeField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(
        _("escalation level"), default=0
    )

    objects = ServiceRequestQuerySet.as_manager()

    # Every change to these leaves an audit entry (crm_site.audit).
    AUDITED_FIELDS = [
        "kind",
        "customer",
        "unit",
        "category",
        "severity",
        "channel",
        "description",
        "receiver",
        "department",
        "handler",
        "status",
        "response_due",
        "resolution_due",
        "satisfied",
        "callback_note",
        "escalation_level",
    ]

    class Meta:
        verbose_name = _("service request")
        verbose_name_plural = _("service requests")
        constraints = [
            # Only an owner's portal request waits for someone to accept it.
            models.CheckConstraint(
                condition=Q(receiver__isnull=False) | Q(channel="portal"),
                name="request_receiver_unless_portal",
            )
        ]
        indexes = [
            # The desk's queue of portal requests nobody has accepted yet.
            models.Index(
                fields=["received_at"],
                condition=Q(channel="portal", receiver__isnull=True),
                name="request_unaccepted_idx",
            ),
            models.Index(fields=["status", "-received_at"], name="request_status_idx"),
            models.Index(fields=["receiver", "status"], name="request_receiver_idx"),
            models.Index(
                fields=["customer", "-received_at"], name="request_customer_idx"
            ),
            # A unit's earlier requests of a category (repeats, service.insight).
            models.Index(
                fields=["unit", "category", "received_at"],
                condition=Q(unit__isnull=False),
                name="request_unit_repeat_idx",
            ),
            models.Index(
                fields=["resolution_due"],
                condition=~Q(status__in=["resolved", "called_back", "closed"]),
                name="request_due_idx",
            ),
            # The open queue, in deadline order: walked in order, stops at a page.
            models.Index(
                fields=["resolution_due", "id"],
                condition=Q(
                    status__in=[
                        "received",
                        "assigned",
                        "in_progress",
                        "resolved",
                        "called_back",
                    ]
                ),
                name="request_open_due_idx",
            ),
            # Dashboard periods and cluster windows, read from the index alone: it
            # carries every column their aggregates use.
            models.Index(
                fields=["received_at"],
                include=[
                    "id",
                    "unit",
                    "category",
                    "status",
                    "responded_at",
                    "resolved_at",
                    "resolution_due",
                    "reopen_count",
                    "satisfied",
                ],
                name="request_received_cover_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} · {self.customer}"

    def get_absolute_url(self) -> str:
        return reverse("service:request-detail", args=[self.pk])

    @property
    def number(self) -> str:
        # The day it was logged in Shanghai (00:10 there is still yesterday in UTC),
        # as a GM letter's number.
        return f"KF{timezone.localtime(self.received_at):%Y%m%d}-{self.pk:05d}"

    @property
    def awaiting_acceptance(self) -> bool:
        """A portal request no agent has accepted: nobody is accountable yet."""
        return self.receiver_id is None

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    @property
    def overdue(self) -> bool:
        now = timezone.now()
        if self.status in (self.Status.RECEIVED,) and now > self.response_due:
            return True
        return (
            self.status
            in (self.Status.RECEIVED, self.Status.ASSIGNED, self.Status.IN_PROGRESS)
            and now > self.resolution_due
        )

    @property
    def time_left(self) -> timedelta | None:
        if self.status not in (
            self.Status.RECEIVED,
            self.Status.ASSIGNED,
            self.Status.IN_PROGRESS,
        ):
            return None
        return self.resolution_due - timezone.now()

    @property
    def escalation_label(self) -> str:
        """Who the request was escalated to, in words (the list's badge)."""
        if not self.escalation_level:
            return ""
        return str(Escalation.Level(self.escalation_level).label)

    @property
    def past_resolution_due(self) -> bool:
        return self.resolution_due < timezone.now()

    def move_to(
        self,
        status: str,
        *,
        actor,
        note: str = "",
        because: events.Entry | None = None,
        department: str = "",
    ) -> bool:
        """The one way a request changes status: refuses illegal moves, does nothing
        when repeated (except a re-assignment), records the step on the owner's timeline.

        ``note`` is what a person wrote; ``because`` the system's word on the step (an
        event entry, e.g. service.events.HANDED_TO), shown in the reader's language.
        """
        from crm_site import webhooks
        from customers.services import interaction_log
        from service import events as service_events

        if status == self.status and status != self.Status.ASSIGNED:
            return False
        if status not in self.TRANSITIONS.get(self.status, set()):
            raise ValidationError(
                _("A request cannot go from %(old)s to %(new)s.")
                % {"old": self.get_status_display(), "new": self.Status(status).label}
            )
        from crm_site.audit import audit_change, snapshot

        old = self.status
        before = snapshot(self, ["status"])
        now = timezone.now()
        self.status = status
        fields = ["status"]
        if self.responded_at is None and status in (
            self.Status.ASSIGNED,
            self.Status.IN_PROGRESS,
        ):
            self.responded_at = now
            fields.append("responded_at")
        if status == self.Status.RESOLVED:
            self.resolved_at = now
            fields.append("resolved_at")
        if status == self.Status.CLOSED:
            self.closed_at = now
            fields.append("closed_at")
        self.save(update_fields=fields)
        audit_change(actor=actor, instance=self, before=before)
        step = ServiceStep.objects.create(
            request=self,
            from_status=old,
            to_status=status,
            department=department,
            actor=actor,
            note=note,
            event=because.code if because is not None else "",
            params=because.params if because is not None else {},
        )
        if self.channel == self.Channel.PORTAL:
            # The owner hears of every change the desk makes (a row, then a task).
            from service.portal_requests import notice_for_step

            notice_for_step(step)
        moved = {"kind": self.kind, "number": self.number, "old": old, "new": status}
        hook = {"service_request_id": self.pk, "number": self.number}
        webhooks.emit(
            "service_request.status_changed", data=hook | {"from": old, "to": status}
        )
        if status == self.Status.CLOSED:
            webhooks.emit("service_request.closed", data=hook)
        interaction_log(
            customer=self.customer,
            kind="complaint" if self.kind == self.Kind.COMPLAINT else "system",
            entry=service_events.STATUS_CHANGED_BECAUSE(**moved, reason=because)
            if because is not None
            else service_events.STATUS_CHANGED(**moved),
            summary=note,
            actor=actor,
            link=self,
        )
        return True

    move_to.alters_data = True


class RequestPhoto(models.Model):
    """A photo of the problem: from the owner (WeChat, e-mail) or taken on site."""

    request = models.ForeignKey(
        ServiceRequest, on_delete=models.CASCADE, related_name="photos"
    )
    file = models.FileField(_("photo"), upload_to="requests/%Y/%m/")
    # Empty: the owner's own, sent with their request from the portal.
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("request photo")
        verbose_name_plural = _("request photos")
        ordering = ["uploaded_at", "pk"]

    def __str__(self) -> str:
        return f"{self.request} {self.file.name}"


class ServiceStep(models.Model):
    """Every step of a request: status changes and hand-overs, who and when."""

    request = models.ForeignKey(
        ServiceRequest, on_delete=models.CASCADE, related_name="steps"
    )
    from_status = models.CharField(max_length=20, choices=ServiceRequest.Status.choices)
    to_status = models.CharField(max_length=20, choices=ServiceRequest.Status.choices)
    department = models.CharField(max_length=20, choices=Department.choices, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What a person wrote; what the system says about the step (handed to a
    # department, a work order, photos added) is an event code and its parameters
    # (crm_site.events), shown in the reader's language.
    note = models.CharField(max_length=300, blank=True)
    event = models.CharField(max_length=60, blank=True)
    params = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("request step")
        verbose_name_plural = _("request steps")
        indexes = [models.Index(fields=["request", "-at"], name="service_step_idx")]

    def __str__(self) -> str:
        return f"{self.request_id}: {self.from_status} → {self.to_status}"

    @property
    def text(self) -> str:
        return events.text_of(self.event, self.params, self.note)


class Escalation(models.Model):
    """An overdue request raised one rung up the ladder; a row per request and level, so
    the sweep raises each level once."""

    class Level(models.IntegerChoices):
        HANDLER = 1, _("Handler")
        MANAGER = 2, _("Service manager")
        EXECUTIVE = 3, _("Executive")

    class Reason(models.TextChoices):
        RESPONSE_OVERDUE = "response_overdue", _("response overdue")
        RESOLUTION_OVERDUE = "resolution_overdue", _("resolution overdue")
        NOT_SATISFIED = "not_satisfied", _("Owner not satisfied at the callback")

    request = models.ForeignKey(
        ServiceRequest, on_delete=models.CASCADE, related_name="escalations"
    )
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    # A code, shown in the reader's language.
    reason = models.CharField(max_length=200, choices=Reason.choices)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        constraints = [
            models.UniqueConstraint(
                fields=["request", "level"], name="escalation_once_per_level"
            )
        ]

    def __str__(self) -> str:
        return f"{self.request_id} L{self.level}"
