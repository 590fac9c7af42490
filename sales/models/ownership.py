"""Who owns a customer at a project: registrations (客户报备), their protection periods
under versioned rules, and every ownership decision with its reason."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site import events
from sales.models.inventory import Project


class ProtectionRule(models.Model):
    """The protection windows of a project. Rules are never edited: a change is a new
    version, and each registration remembers the version it was decided under."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="protection_rules"
    )
    version = models.PositiveSmallIntegerField()
    call_days = models.PositiveSmallIntegerField(
        _("protection after a call registration (days)"), default=15
    )
    visit_days = models.PositiveSmallIntegerField(
        _("protection after a visit registration (days)"), default=7
    )
    follow_up_days = models.PositiveSmallIntegerField(
        _("protection renewed by a follow-up (days)"), default=30
    )
    warn_days = models.PositiveSmallIntegerField(
        _("warn the consultant (days before)"), default=3
    )
    daily_claim_cap = models.PositiveSmallIntegerField(
        _("pool claims per consultant per day"), default=10
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("protection rule")
        verbose_name_plural = _("protection rules")
        constraints = [
            models.UniqueConstraint(
                fields=["project", "version"], name="protection_rule_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project} v{self.version}"


class Registration(models.Model):
    """A customer registered at a project by a consultant, protected until a date."""

    class Basis(models.TextChoices):
        CALL = "call", _("Call registration")
        VISIT = "visit", _("Visit registration")
        CLAIM = "claim", _("Claimed from the pool")
        REASSIGN = "reassign", _("Reassigned by a manager")

    class Status(models.TextChoices):
        PROTECTED = "protected", _("Protected")
        LAPSED = "lapsed", _("Lapsed to the pool")
        ENDED = "ended", _("Ended")

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="registrations"
    )
    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, related_name="registrations"
    )
    consultant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="registrations"
    )
    rule = models.ForeignKey(ProtectionRule, on_delete=models.PROTECT, related_name="+")
    basis = models.CharField(max_length=20, choices=Basis.choices)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PROTECTED
    )
    registered_at = models.DateTimeField(default=timezone.now)
    protected_until = models.DateTimeField(_("protected until"))
    warned_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("registration")
        verbose_name_plural = _("registrations")
        constraints = [
            # One protected owner per customer and project: the database refuses a second.
            models.UniqueConstraint(
                fields=["customer", "project"],
                condition=Q(status="protected"),
                name="registration_one_protected",
            )
        ]
        indexes = [
            models.Index(
                fields=["protected_until"],
                condition=Q(status="protected"),
                name="registration_due_idx",
            ),
            models.Index(
                fields=["consultant", "status", "protected_until"],
                name="registration_owner_idx",
            ),
            models.Index(
                fields=["customer", "-registered_at"], name="registration_customer_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}@{self.project_id} by {self.consultant_id}"


class OwnershipEvent(models.Model):
    """Every ownership decision and why, so a dispute (撞单) is settled from the record."""

    class Kind(models.TextChoices):
        REGISTERED = "registered", _("Registered")
        REFUSED = "refused", _("Registration refused")
        RENEWED = "renewed", _("Protection renewed")
        WARNED = "warned", _("Warned of lapse")
        LAPSED = "lapsed", _("Returned to the pool")
        CLAIMED = "claimed", _("Claimed from the pool")
        REASSIGNED = "reassigned", _("Reassigned")
        # A customer merge: a registration came with the absorbed customer, won or
        # lost against the survivor's at the same project, and its undo.
        MERGE_MOVED = "merge_moved", _("Came with a merged customer")
        MERGE_KEPT = "merge_kept", _("Kept in a merge: earlier protection")
        MERGE_ENDED = "merge_ended", _("Ended by a merge: later protection")
        MERGE_UNDONE = "merge_undone", _("Merge undone")

    registration = models.ForeignKey(
        Registration,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="events",
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="ownership_events"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    consultant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    rule_version = models.PositiveSmallIntegerField(null=True, blank=True)
    protected_until = models.DateTimeField(null=True, blank=True)
    # A manager's own words; the system's reason for a decision is an event code and
    # its parameters (crm_site.events), shown in the reader's language.
    reason = models.CharField(max_length=300, blank=True)
    event = models.CharField(max_length=60, blank=True)
    params = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("ownership event")
        verbose_name_plural = _("ownership events")
        indexes = [
            models.Index(fields=["customer", "-at"], name="ownership_customer_idx"),
            # "New in the pool" on the consultant's day: the latest lapses.
            models.Index(fields=["kind", "-at"], name="ownership_kind_at_idx"),
            models.Index(
                fields=["consultant", "kind", "at"], name="ownership_claims_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.customer_id}"

    @property
    def text(self) -> str:
        """Why, in the reader's language, then the manager's own words."""
        return events.text_of(self.event, self.params, self.reason)
