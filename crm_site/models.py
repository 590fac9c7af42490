"""Cross-cutting models: users and teams, the audit trail, service heartbeats."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import formats, timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from crm_site import events, fragments, links
from crm_site.api.context import current_via
from crm_site.outbox import OutboxMessage, outbox_indexes
from crm_site.roles import Role, roles_of
from crm_site.templatetags.money import yuan


class Team(models.Model):
    """A sales team; its sales manager sees the customers of its consultants."""

    name = models.CharField(_("name"), max_length=100, unique=True)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        permissions = [("use_admin", _("Can use the administration site"))]

    @property
    def display_name(self) -> str:
        return self.name_of(self.username, self.first_name, self.last_name)

    @staticmethod
    def name_of(username: str, first_name: str, last_name: str) -> str:
        """A user's display name from those columns, for rows that read them without
        the user (customers.selectors.customer_rows)."""
        # Chinese names are written family name first, with no space.
        full = f"{last_name}{first_name}".strip()
        return full or username

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        # A page asks some fifty times; Django's answer loads and instantiates every
        # authentication backend on each call. Once the backend has put the user's
        # permissions on the user (ModelBackend and CachedPermissionBackend both keep
        # them in _perm_cache; the lock-out backend grants none), ask that set.
        if obj is None and self.is_active and not self.is_superuser:
            perms = getattr(self, "_perm_cache", None)
            if perms is not None:
                return perm in perms
        return super().has_perm(perm, obj)

    def team_member_ids(self) -> list[int]:
        """Ids of everyone in this user's team (themselves included): the team scope
        of several querysets on a page uses it. Kept on the user for the request and
        in the cache until a user row changes."""
        if not self.team_id:
            return []
        cached = getattr(self, "_team_member_ids", None)
        if cached is None or cached[0] != self.team_id:
            team_id = self.team_id
            ids = fragments.cached(
                f"team-members:{team_id}",
                lambda: list(
                    User.objects.filter(team_id=team_id).values_list("pk", flat=True)
                ),
                depends_on=[User],
                per_language=False,
            )
            cached = self._team_member_ids = (team_id, ids)
        return cached[1]

    @property
    def roles(self) -> list[Role]:
        return roles_of(self)

    @property
    def role_labels(self) -> str:
        return " / ".join(str(role.label) for role in self.roles)

    def __str__(self) -> str:
        return self.display_name


def _as_written(field: models.Field | None, value: Any) -> str:
    """A stored value as people write it: ¥2,350,000.00, 5%, 2026-12-10 14:30."""
    if value in (None, "") or field is None:
        return "" if value is None else str(value)
    try:
        if isinstance(field, models.DecimalField):
            number = Decimal(str(value))
            if "percent" in field.name:
                return f"{number.normalize():f}%"
            if field.decimal_places == 2 and "area" not in field.name:
                return yuan(number, 2)
            return f"{number:,f}"
        if isinstance(field, models.DateTimeField):
            moment = datetime.fromisoformat(str(value))
            if timezone.is_aware(moment):
                moment = timezone.localtime(moment)
            return formats.date_format(moment, "Y-m-d H:i")
    except (InvalidOperation, ValueError):
        pass
    return str(value)


class AuditEntry(models.Model):
    """One change to a business object: who, when, what, old and new values."""

    class Action(models.TextChoices):
        CREATE = "create", _("Created")
        UPDATE = "update", _("Updated")
        DELETE = "delete", _("Deleted")
        REVEAL = "reveal", _("Number shown")
        EXPORT = "export", _("Personal information exported")
        ANONYMISE = "anonymise", _("Personal information anonymised")
        LOCK_OUT = "lockout", _("Log-in locked")
        UNLOCK = "unlock", _("Log-in unlocked")
        SIGN_IN = "sign_in", _("Signed in to the owner portal")
        SIGN_IN_FAILED = "sign_in_failed", _("Owner portal sign-in failed")
        KEY_ROTATE = "key_rotate", _("API key rotated")
        KEY_REVOKE = "key_revoke", _("API key revoked")

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.BigIntegerField()
    object_repr = models.CharField(max_length=200)
    # {"field": {"old": ..., "new": ...}}; choice fields keep their stored values.
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now)
    # The integration (API key name) the change came through, "" for the UI: the
    # default reads the call's context (crm_site.api.context), so every way a row
    # is written (audit_record, audited_update, a service's bulk_create) fills it;
    # the column's own default covers raw INSERTs (the import's INSERT … unnest).
    via = models.CharField(
        _("via"), max_length=100, blank=True, default=current_via, db_default=""
    )

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        indexes = [
            models.Index(
                fields=["content_type", "object_id", "-created_at"],
                name="audit_object_idx",
            ),
            models.Index(fields=["actor", "-created_at"], name="audit_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.object_repr}"

    @property
    def actor_label(self) -> str:
        """Who made the change as the trail shows it: "张三 via ERP", "System"."""
        who = self.actor.display_name if self.actor else str(_("System"))
        if self.via:
            return _("%(who)s via %(system)s") % {"who": who, "system": self.via}
        return who

    # Labels of audit keys that are not model fields (the suite fails on an entry
    # with a key that is neither: tests/conftest.py, _audit_keys_are_named).
    EXTRA_LABELS = {
        "units": _("units"),
        "prices": _("prices"),
        "reference": _("ticket reference"),
        "receipts": _("receipts"),
        "invited": _("owners invited"),
        "ip_address": _("IP address"),
        "remembered": _("device remembered"),
        "chosen_by": _("chosen by"),
        "until": _("locked until"),
        "moved_from": _("moved from"),
        "source": _("source"),
        "utm_source": _("UTM source"),
        "utm_medium": _("UTM medium"),
        "utm_campaign": _("UTM campaign"),
    }

    # Those of them that hold a yes or no (written "True" / "False").
    EXTRA_FLAGS = frozenset({"remembered"})

    def unnamed_keys(self) -> list[str]:
        """The keys of ``changes`` the trail could only show as written in code:
        neither a field of the model (a reverse relation included) nor one of
        EXTRA_LABELS, or a field whose label Django made up from its name
        ("called position", on a Chinese page too)."""
        model = self.content_type.model_class()
        if model is None:
            return []
        unnamed = []
        for name in self.changes or {}:
            # As readable_changes labels them: a field by its own label first.
            try:
                field = model._meta.get_field(name)
            except FieldDoesNotExist:
                if name not in self.EXTRA_LABELS:
                    unnamed.append(name)
                continue
            # A reverse relation is named after its model; any other field by
            # its verbose_name, which must be translated.
            if not field.auto_created and not isinstance(field.verbose_name, Promise):
                unnamed.append(name)
        return unnamed

    def readable_changes(self) -> list[tuple[str, str, str]]:
        """(field label, old, new) in the reader's language."""
        model = self.content_type.model_class()
        rows = []
        for name, change in self.changes.items():
            label, choices, field = name, {}, None
            if model is not None:
                try:
                    field = model._meta.get_field(name)
                except FieldDoesNotExist:
                    field = None
                if field is None:
                    label = str(self.EXTRA_LABELS.get(name, name))
                    if name in self.EXTRA_FLAGS:
                        choices = {"True": str(_("Yes")), "False": str(_("No"))}
                elif field.auto_created and not field.concrete:
                    # A reverse relation (contact points...): name it after its model.
                    label = str(field.related_model._meta.verbose_name_plural)
                else:
                    label = str(field.verbose_name)
                    choices = {str(k): str(v) for k, v in field.flatchoices}
                    if isinstance(field, models.BooleanField):
                        choices = {"True": str(_("Yes")), "False": str(_("No"))}
            old, new = change.get("old", ""), change.get("new", "")
            rows.append(
                (
                    label,
                    choices.get(str(old)) or _as_written(field, old),
                    choices.get(str(new)) or _as_written(field, new),
                )
            )
        return rows

    @property
    def target_url(self) -> str | None:
        return links.url_for(self.content_type, self.object_id)


class Heartbeat(models.Model):
    """When the Celery worker and beat were last seen alive, shown by /health/."""

    class Component(models.TextChoices):
        WORKER = "worker", _("Celery worker")
        BEAT = "beat", _("Celery beat")

    component = models.CharField(
        max_length=20, choices=Component.choices, primary_key=True
    )
    last_seen = models.DateTimeField()

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")

    def __str__(self) -> str:
        return f"{self.component} {self.last_seen:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def beat(cls, component: str, **kwargs: Any) -> None:
        cls.objects.update_or_create(
            component=component, defaults={"last_seen": timezone.now()}
        )


class Notification(models.Model):
    """Something a user should know; shown under the bell in the header."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    # An event code and its parameters (crm_site.events), rendered in the reader's
    # language; message holds text that is not an event (and older rows).
    event = models.CharField(max_length=60, blank=True)
    params = models.JSONField(default=dict, blank=True)
    message = models.CharField(_("message"), max_length=300, blank=True)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notification_user_idx"),
            models.Index(
                fields=["user"],
                condition=models.Q(read_at__isnull=True),
                name="notification_unread_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        return events.text_of(self.event, self.params, self.message)


class JobRun(models.Model):
    """When a periodic job last ran and what it did, for the people who rely on it.

    ``last_period`` is the day (or hour) the job last ran for: crm_site.jobs runs a job
    once per period, so the scheduled run and a catch-up after an outage never both
    do it."""

    name = models.CharField(max_length=100, primary_key=True)
    last_period = models.CharField(max_length=20, blank=True)
    last_started = models.DateTimeField(null=True, blank=True)
    last_finished = models.DateTimeField(null=True, blank=True)
    last_result = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        permissions = [
            (
                "review_outbox",
                _("Can review messages whose sending was interrupted"),
            )
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def record(cls, name: str, *, started, result: str) -> None:
        cls.objects.update_or_create(
            name=name,
            defaults={
                "last_started": started,
                "last_finished": timezone.now(),
                "last_result": result[:200],
            },
        )


class LoggedSms(models.Model):
    """The keys the log SMS backend accepted (crm_site.messaging.LogSmsBackend), so it
    answers look-ups like a real gateway: which messages it has, across processes."""

    key = models.CharField(max_length=64, unique=True)
    message_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("logged SMS")
        verbose_name_plural = _("logged SMS")

    def __str__(self) -> str:
        return self.key


class FormSubmission(models.Model):
    """A one-time form token that was used: a second POST with it creates nothing.

    The row is written in the same transaction as what the form created, so a
    replay that arrives while the first POST is still running waits on the
    unique token and then finds it used (see crm_site.submissions)."""

    token = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    path = models.CharField(max_length=200)
    result_url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("form submission")
        verbose_name_plural = _("form submissions")

    def __str__(self) -> str:
        return self.path


class Target(models.Model):
    """A month's target for one figure of the overview (crm_site.overview), set in the
    admin: for every project or one, for every team or one. The figure keys come from
    the overview's registry (the apps register them), so this model names no app's
    figures itself."""

    figure = models.CharField(_("figure"), max_length=60)
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    project = models.ForeignKey(
        "sales.Project",
        verbose_name=_("project"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("Empty: all projects together."),
    )
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="targets",
        help_text=_("Empty: the whole company; a team: what its sales manager sees."),
    )
    value = models.DecimalField(_("target"), max_digits=18, decimal_places=2)

    class Meta:
        verbose_name = _("target")
        verbose_name_plural = _("targets")
        ordering = ["-month", "figure"]
        constraints = [
            # One target per figure, month, project and team; NULLS NOT DISTINCT makes
            # "all projects" and "no team" count as one value each.
            models.UniqueConstraint(
                fields=["figure", "month", "project", "team"],
                name="target_unique_scope",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=models.Q(month__day=1), name="target_month_first_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.figure} {self.month:%Y-%m}"


class PortalSession(AbstractBaseSession):
    """An owner's session in the portal (crm_site.portal): a table of its own, so a
    staff session key never opens the portal and an owner's never a staff page."""

    class Meta:
        verbose_name = _("owner session")
        verbose_name_plural = _("owner sessions")

    @classmethod
    def get_session_store_class(cls):
        from crm_site.portal import SessionStore

        return SessionStore


# The API's keys live with the API (crm_site.api.models); imported here so that the
# app's models are all found where Django looks for them.
from crm_site.api.models import ApiKey, IdempotentRequest  # noqa: E402, F401

# Webhook subscriptions, events and deliveries (crm_site.webhooks).
from crm_site.webhooks.models import (  # noqa: E402, F401
    WebhookDelivery,
    WebhookEvent,
    WebhookPauseNotice,
    WebhookSubscription,
)


class FactDirty(models.Model):
    """A key of a fact table whose live rows changed (crm_site.insight): written by
    triggers in the changing transaction, claimed and deleted by the refresh."""

    fact = models.CharField(max_length=40)
    key = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["fact", "id"], name="factdirty_claim_idx")]

    def __str__(self) -> str:
        return f"{self.fact}:{self.key}"


class FactState(models.Model):
    """When a fact table was last refreshed and rebuilt (shown with its figures)."""

    fact = models.CharField(max_length=40, primary_key=True)
    refreshed_at = models.DateTimeField(null=True)
    rebuilt_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return self.fact


# --- The explorer's saved views and the reports that arrive by e-mail ------------------


class ExplorerView(models.Model):
    """A manager's saved explorer view (crm_site.explorer): the source and the query
    string of the page, so opening it is opening the page with those parameters."""

    owner = models.ForeignKey(
        User, verbose_name=_("owner"), on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(_("name"), max_length=100)
    source = models.CharField(_("source"), max_length=60)
    params = models.JSONField(_("parameters"), default=dict)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("saved explorer view")
        verbose_name_plural = _("saved explorer views")
        permissions = [("use_explorer", _("Can use the explorer and its reports"))]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"], name="explorerview_owner_name_uniq"
            )
        ]

    def __str__(self) -> str:
        return self.name


class ReportSubscription(models.Model):
    """A weekly or monthly report by e-mail (crm_site.reports): a saved explorer view
    or the managers' overview, as an XLSX attachment, for its subscriber only."""

    class What(models.TextChoices):
        VIEW = "view", _("A saved explorer view")
        OVERVIEW = "overview", _("The managers' overview")

    class Frequency(models.TextChoices):
        WEEKLY = "weekly", _("Weekly")
        MONTHLY = "monthly", _("Monthly")

    user = models.ForeignKey(
        User, verbose_name=_("subscriber"), on_delete=models.CASCADE, related_name="+"
    )
    what = models.CharField(_("report"), max_length=10, choices=What.choices)
    view = models.ForeignKey(
        ExplorerView,
        verbose_name=_("saved view"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="subscriptions",
    )
    frequency = models.CharField(
        _("frequency"), max_length=10, choices=Frequency.choices
    )
    # 0 = Monday (weekly); 1–28 (monthly), so every month has the day.
    weekday = models.PositiveSmallIntegerField(_("weekday"), null=True, blank=True)
    day = models.PositiveSmallIntegerField(_("day of month"), null=True, blank=True)
    # The language the report is written in: the subscriber's when they subscribed.
    language = models.CharField(_("language"), max_length=10, default="zh-hans")
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("report subscription")
        verbose_name_plural = _("report subscriptions")
        indexes = [
            models.Index(fields=["user", "created_at"], name="reportsub_user_idx"),
            models.Index(
                fields=["frequency"],
                condition=models.Q(active=True),
                name="reportsub_active_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(what="overview") | models.Q(view__isnull=False),
                name="reportsub_view_given",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(frequency="weekly", weekday__range=(0, 6))
                    | models.Q(frequency="monthly", day__range=(1, 28))
                ),
                name="reportsub_schedule_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_what_display()} · {self.frequency}"


class ReportDelivery(OutboxMessage):
    """One report of one subscription for one period: the period's key is unique, so
    a job that runs twice or after a crash queues it once (crm_site.reports)."""

    subscription = models.ForeignKey(
        ReportSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    # The day the report was due (ISO date): the period it covers ends before it.
    period = models.CharField(max_length=20)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("report e-mail")
        verbose_name_plural = _("report e-mails")
        indexes = outbox_indexes("reportdelivery")
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period"], name="reportdelivery_period_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subscription} · {self.period}"
