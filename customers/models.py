"""The one customer table shared by sales, service and marketing."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import Q
from django.db.models.functions import Right
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm_site import events
from crm_site.outbox import OutboxMessage, outbox_indexes
from crm_site.reversing import reverse_id
from customers.identity import mask_id_number
from customers.phones import format_phone, mask_phone
from customers.querysets import (
    CustomerManager,
    NameBigrams,
    NameChars,
    NationalDigits,
)

if TYPE_CHECKING:
    from crm_site.models import User


class Channel(models.TextChoices):
    """How we reach a customer, or how they reached us."""

    FACE_TO_FACE = "face_to_face", _("Face to face")
    PHONE = "phone", _("Phone")
    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")
    WECHAT = "wechat", _("WeChat")
    WEB = "web", _("Web")
    PARTNER = "partner", _("Channel partner")
    # The owners' portal (crm_site.portal): what an owner did there themselves.
    PORTAL = "portal", _("Owner portal")


class Customer(models.Model):
    class Kind(models.TextChoices):
        PERSON = "person", _("Person")
        COMPANY = "company", _("Company")

    class Gender(models.TextChoices):
        UNKNOWN = "", _("Not stated")
        FEMALE = "female", _("Female")
        MALE = "male", _("Male")

    class Source(models.TextChoices):
        WALK_IN = "walk_in", _("Walk-in")
        PHONE = "phone", _("Phone call")
        WECHAT = "wechat", _("WeChat")
        WEB = "web", _("Website")
        EVENT = "event", _("Event")
        REFERRAL = "referral", _("Owner referral")
        BROKER = "broker", _("Channel partner")
        ADVERTISING = "advertising", _("Advertising")
        OTHER = "other", _("Other")

    class Stage(models.TextChoices):
        PROSPECT = "prospect", _("Prospect")
        BUYER = "buyer", _("Buyer")
        OWNER = "owner", _("Owner")

    class IdType(models.TextChoices):
        RESIDENT_ID = "resident_id", _("Resident identity card")
        PASSPORT = "passport", _("Passport")
        HK_MACAU = (
            "hk_macau",
            _("Mainland travel permit for Hong Kong and Macau residents"),
        )
        TAIWAN = "taiwan", _("Mainland travel permit for Taiwan residents")
        BUSINESS_LICENSE = "business_license", _("Business licence")
        OTHER = "other", _("Other document")

    class HouseholdRole(models.TextChoices):
        PRINCIPAL = "principal", _("Principal buyer")
        SPOUSE = "spouse", _("Spouse")
        PARENT = "parent", _("Parent")
        CHILD = "child", _("Child")
        PARTNER = "partner", _("Co-buyer")
        OTHER = "other", _("Other")

    name = models.CharField(_("Name"), max_length=100)
    kind = models.CharField(
        _("customer type"), max_length=10, choices=Kind.choices, default=Kind.PERSON
    )
    # E.164 ('+8613800138000'); unique among live customers: one person, one record.
    # None only once the customer is anonymised (NULLs never collide in the index).
    mobile = models.CharField(_("mobile"), max_length=20, null=True)  # noqa: DJ001
    email = models.EmailField(_("e-mail"), blank=True)
    gender = models.CharField(
        _("gender"), max_length=10, choices=Gender.choices, blank=True, default=""
    )
    source = models.CharField(
        _("source channel"),
        max_length=20,
        choices=Source.choices,
        default=Source.WALK_IN,
    )
    stage = models.CharField(
        _("lifecycle stage"),
        max_length=20,
        choices=Stage.choices,
        default=Stage.PROSPECT,
    )
    assigned_consultant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("consultant"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_customers",
    )
    company = models.CharField(_("company"), max_length=200, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    id_type = models.CharField(
        _("identity document"), max_length=20, choices=IdType.choices, blank=True
    )
    # The number itself is shown masked; matching uses the keyed hash only.
    id_number = models.CharField(_("document number"), max_length=40, blank=True)
    id_number_hash = models.CharField(max_length=64, blank=True, editable=False)
    preferred_channel = models.CharField(
        _("preferred channel"),
        max_length=20,
        choices=Channel.choices,
        blank=True,
    )
    household = models.ForeignKey(
        "customers.Household",
        verbose_name=_("household"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
    )
    household_role = models.CharField(
        _("role in household"), max_length=20, choices=HouseholdRole.choices, blank=True
    )
    tags = models.ManyToManyField("customers.Tag", verbose_name=_("tags"), blank=True)
    # Current consent per purpose; the history with when and how is in ConsentRecord.
    consent_sms = models.BooleanField(_("marketing by SMS"), default=False)
    consent_email = models.BooleanField(_("marketing by e-mail"), default=False)
    consent_phone = models.BooleanField(_("marketing by phone"), default=False)
    consent_service = models.BooleanField(_("service contact"), default=True)
    notes = models.TextField(_("notes"), blank=True)
    # Search helpers kept in step with the name by customers.services.
    name_pinyin = models.CharField(max_length=300, blank=True, editable=False)
    name_initials = models.CharField(max_length=100, blank=True, editable=False)
    # Denormalised from the timeline so lists filter and sort without joining it.
    last_contact_at = models.DateTimeField(_("last contact"), null=True, blank=True)
    next_follow_up = models.DateField(_("next follow-up"), null=True, blank=True)
    # Set on the absorbed side of a merge; such customers are hidden everywhere.
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="absorbed",
        editable=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(
        _("created"), default=timezone.now, editable=False
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # Set by a personal-information request (customers.services.customer_anonymise):
    # the record stays for the contracts and receipts that point at it, but is never
    # searched, targeted, matched, merged or edited again.
    anonymised_at = models.DateTimeField(
        _("anonymised"), null=True, blank=True, editable=False
    )
    anonymised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("anonymised by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    objects = CustomerManager()

    # The business facts of a customer: every change to one leaves an audit entry
    # (crm_site.audit; bulk updates of them go through audited_update).
    AUDITED_FIELDS = [
        "name",
        "kind",
        "mobile",
        "email",
        "gender",
        "company",
        "address",
        "id_type",
        "id_number",
        "source",
        "stage",
        "preferred_channel",
        "assigned_consultant",
        "household",
        "household_role",
        "consent_sms",
        "consent_email",
        "consent_phone",
        "consent_service",
        "notes",
    ]

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("scope_all", _("Can see every customer")),
            ("scope_team", _("Can see the customers of own sales team")),
            ("scope_own", _("Can see own customers and the public pool")),
            ("scope_service", _("Can see buyers and owners")),
            ("scope_consented", _("Can see customers who consented to marketing")),
            ("view_contact", _("Can see full phone numbers")),
            ("reveal_contact", _("Can show a masked number, logged and rate-limited")),
            ("assign_customer", _("Can assign customers to consultants")),
            ("export_customer", _("Can export customer lists")),
            ("import_customer", _("Can import customers")),
            ("merge_customer", _("Can merge duplicate customers")),
            (
                "handle_personal_data",
                _("Can export and anonymise a customer's personal information"),
            ),
            # Customer value (customers.value): the figures, the top customers list
            # and the value explorer. Everyone who opens a customer sees the tier.
            (
                "view_customer_value",
                _("Can see customer value and the top customers list"),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["mobile"],
                condition=Q(merged_into__isnull=True),
                name="customer_mobile_unique_live",
            ),
        ]
        indexes = [
            models.Index(Right("mobile", 4), name="customer_mobile_tail_idx"),
            models.Index(fields=["id_number_hash"], name="customer_id_hash_idx"),
            models.Index(
                fields=["name_initials"],
                name="customer_initials_idx",
                opclasses=["varchar_pattern_ops"],
            ),
            GinIndex(
                fields=["name_pinyin"],
                name="customer_pinyin_trgm",
                opclasses=["gin_trgm_ops"],
            ),
            GinIndex(
                fields=["company"],
                name="customer_company_trgm",
                opclasses=["gin_trgm_ops"],
            ),
            models.Index(fields=["last_contact_at"], name="customer_last_contact_idx"),
            models.Index(fields=["next_follow_up"], name="customer_follow_up_idx"),
            # The consultant's day and digest: one consultant's due follow-ups, today's
            # already in name order (the day lists them by name).
            models.Index(
                fields=["assigned_consultant", "next_follow_up", "name"],
                name="customer_owner_follow_up_idx",
                condition=Q(next_follow_up__isnull=False),
            ),
            models.Index(fields=["-created_at", "-id"], name="customer_created_idx"),
            models.Index(
                fields=["assigned_consultant", "-created_at"],
                name="customer_consultant_idx",
            ),
            models.Index(fields=["stage", "-created_at"], name="customer_stage_idx"),
            models.Index(fields=["source", "-created_at"], name="customer_source_idx"),
            GinIndex(
                fields=["name"], name="customer_name_trgm", opclasses=["gin_trgm_ops"]
            ),
            # Any run of three or more digits of the number (search_ids).
            GinIndex(
                OpClass(NationalDigits("mobile"), name="gin_trgm_ops"),
                name="customer_mobile_digits_trgm",
            ),
            GinIndex(NameChars("name"), name="customer_name_chars"),
            GinIndex(NameChars("company"), name="customer_company_chars"),
            # Any two adjacent characters (search_ids: Chinese text of two or more).
            GinIndex(NameBigrams("name"), name="customer_name_bigrams"),
            GinIndex(NameBigrams("company"), name="customer_company_bigrams"),
            models.Index(
                fields=["name"],
                name="customer_name_prefix",
                opclasses=["varchar_pattern_ops"],
            ),
        ]

    def __str__(self) -> str:
        return self.name

    # The customer's page; lists link their rows with reverse_ids(DETAIL_URL).
    DETAIL_URL = "customers:customer-detail"

    def get_absolute_url(self) -> str:
        # Every list row links here: the remembered form of reverse().
        return reverse_id(self.DETAIL_URL, self.pk)

    @property
    def is_anonymised(self) -> bool:
        return self.anonymised_at is not None

    @property
    def is_gone(self) -> bool:
        """Merged into another record or anonymised: no one is reached at it any
        more (an old link or message of it may be anyone's now)."""
        return self.merged_into_id is not None or self.is_anonymised

    def contact_visible_to(self, user: User) -> bool:
        """Full numbers go to the consultant who owns the customer and to roles with the right."""
        return self._contact_visible(user.has_perm("customers.view_contact"), user.pk)

    def _contact_visible(self, sees_all: bool, user_pk: int | None) -> bool:
        return sees_all or (
            self.assigned_consultant_id is not None
            and self.assigned_consultant_id == user_pk
        )

    def id_number_for(self, user: User) -> str:
        if self.contact_visible_to(user):
            return self.id_number
        return mask_id_number(self.id_number)

    @property
    def value_row(self) -> CustomerValue | None:
        """The customer's value fact (customers.value), or None before the first
        refresh; read with ``select_related("value__tier")`` it costs no query."""
        try:
            return self.value
        except CustomerValue.DoesNotExist:
            return None

    def mobile_for(self, user: User) -> str:
        return self.mobiles_for(user)(self)

    @staticmethod
    def contacts_visible_for(user: User) -> Callable[[Customer], bool]:
        """``customer.contact_visible_to(user)`` as a function of the customer, for a
        list's rows: the user's right read once, not once per row."""
        sees_all = user.has_perm("customers.view_contact")
        user_pk = user.pk
        return lambda customer: customer._contact_visible(sees_all, user_pk)

    @staticmethod
    def mobiles_for(user: User) -> Callable[[Customer], str]:
        """``customer.mobile_for(user)`` as a function of the customer, for a list's
        rows: the user's right read once, not once per row."""
        visible = Customer.contacts_visible_for(user)

        def mobile(customer: Customer) -> str:
            if not customer.mobile:
                return ""
            if visible(customer):
                return format_phone(customer.mobile)
            return mask_phone(customer.mobile)

        return mobile


class Household(models.Model):
    """People who buy together (spouses, parents and children, partners)."""

    name = models.CharField(_("name"), max_length=100)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ContactPoint(models.Model):
    """A further way to reach a customer besides the primary mobile."""

    class Kind(models.TextChoices):
        MOBILE = "mobile", _("Mobile")
        LANDLINE = "landline", _("Landline")
        EMAIL = "email", _("E-mail")
        WECHAT = "wechat", _("WeChat ID")

    PHONE_KINDS = (Kind.MOBILE, Kind.LANDLINE)

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="contact_points"
    )
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices)
    label = models.CharField(_("label"), max_length=50, blank=True)
    # Phones in E.164, e-mail lower-cased, WeChat IDs as typed.
    value = models.CharField(_("value"), max_length=200)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("contact point")
        verbose_name_plural = _("contact points")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "kind", "value"], name="contact_point_unique"
            )
        ]
        indexes = [
            models.Index(fields=["kind", "value"], name="contact_point_value_idx"),
            models.Index(Right("value", 4), name="contact_point_tail_idx"),
            # Any run of three or more digits of a further number (search_ids).
            GinIndex(
                OpClass(NationalDigits("value"), name="gin_trgm_ops"),
                name="contact_point_digits_trgm",
                condition=Q(kind__in=("mobile", "landline")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value}"


class ConsentRecord(models.Model):
    """Consent given or withdrawn for one purpose: when, how, recorded by whom."""

    class Purpose(models.TextChoices):
        SMS = "sms", _("Marketing by SMS")
        EMAIL = "email", _("Marketing by e-mail")
        PHONE = "phone", _("Marketing by phone")
        SERVICE = "service", _("Service contact")

    class Method(models.TextChoices):
        FORM = "form", _("Signed form")
        VERBAL = "verbal", _("Verbally, recorded by staff")
        WEB = "web", _("Web form")
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribe link")
        IMPORT = "import", _("Import")
        ERASURE = "erasure", _("Personal information request")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="consent_records"
    )
    purpose = models.CharField(_("purpose"), max_length=20, choices=Purpose.choices)
    granted = models.BooleanField(_("granted"))
    method = models.CharField(_("how"), max_length=20, choices=Method.choices)
    note = models.CharField(_("note"), max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    recorded_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        indexes = [
            models.Index(
                fields=["customer", "purpose", "-recorded_at"],
                name="consent_customer_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.purpose} {self.granted}"


class Interaction(models.Model):
    """One touch point on a customer's timeline. Written only by
    customers.services.interaction_log, whichever app it comes from."""

    class Kind(models.TextChoices):
        VISIT = "visit", _("Visit")
        CALL_IN = "call_in", _("Incoming call")
        CALL_OUT = "call_out", _("Outgoing call")
        WECHAT = "wechat", _("WeChat")
        EMAIL = "email", _("E-mail")
        SMS = "sms", _("SMS")
        EVENT = "event", _("Event")
        COMPLAINT = "complaint", _("Complaint")
        SURVEY = "survey", _("Survey answer")
        NOTE = "note", _("Note")
        SYSTEM = "system", _("System")

    # Kinds that are a real contact with the customer (a note or a system entry is not).
    CONTACT_KINDS = (
        Kind.VISIT,
        Kind.CALL_IN,
        Kind.CALL_OUT,
        Kind.WECHAT,
        Kind.EMAIL,
        Kind.SMS,
        Kind.EVENT,
        Kind.COMPLAINT,
        Kind.SURVEY,
    )

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="interactions"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    channel = models.CharField(
        _("channel"), max_length=20, choices=Channel.choices, blank=True
    )
    # What the person wrote. A system entry stores an event code and its parameters
    # instead (crm_site.events), rendered in the reader's language; a summary next to
    # an event is the person's own note on it.
    summary = models.TextField(_("summary"), blank=True)
    event = models.CharField(max_length=60, blank=True)
    params = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # An optional link to the object in another app (a complaint, a deal, a campaign).
    link_type = models.ForeignKey(
        "contenttypes.ContentType",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    link_id = models.BigIntegerField(null=True, blank=True)
    link_label = models.CharField(max_length=200, blank=True)
    next_follow_up = models.DateField(_("next follow-up"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        indexes = [
            models.Index(
                fields=["customer", "-occurred_at", "-id"],
                name="interaction_timeline_idx",
            ),
            models.Index(
                fields=["customer", "kind", "-occurred_at"], name="interaction_kind_idx"
            ),
            models.Index(
                fields=["created_by", "next_follow_up"],
                name="interaction_follow_up_idx",
                condition=Q(next_follow_up__isnull=False),
            ),
            models.Index(fields=["link_type", "link_id"], name="interaction_link_idx"),
            # Visits per period for the sales funnel, without reading five million rows.
            models.Index(
                fields=["occurred_at"],
                include=["customer_id"],
                condition=Q(kind="visit"),
                name="interaction_visit_day_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.occurred_at:%Y-%m-%d}"

    @property
    def text(self) -> str:
        """The entry in the reader's language."""
        return events.text_of(self.event, self.params, self.summary)

    @property
    def link_url(self) -> str | None:
        from crm_site import links

        return links.url_for(self.link_type, self.link_id)


class SavedFilter(models.Model):
    """A customer-list filter a user saved under a name."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_filters"
    )
    name = models.CharField(_("name"), max_length=60)
    query = models.CharField(max_length=1000)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("saved filter")
        verbose_name_plural = _("saved filters")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="saved_filter_unique")
        ]

    def __str__(self) -> str:
        return self.name


class DuplicatePair(models.Model):
    """Two customers a duplicate scan believes are one person, and why."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DISMISSED = "dismissed", _("Not a duplicate")
        MERGED = "merged", _("Merged")

    class Reason(models.TextChoices):
        PHONE = "phone", _("Same phone number")
        ID_NUMBER = "id_number", _("Same identity document")
        NAME_PHONE_TAIL = "name_phone_tail", _("Same name and phone tail")

    # Always first.pk < second.pk, so a pair is found once.
    first = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    reasons = models.JSONField(default=list)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.OPEN
    )
    found_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("duplicate candidate")
        verbose_name_plural = _("duplicate candidates")
        constraints = [
            models.UniqueConstraint(
                fields=["first", "second"], name="duplicate_pair_unique"
            ),
            models.CheckConstraint(
                condition=Q(first__lt=models.F("second")), name="duplicate_pair_ordered"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-found_at"], name="duplicate_status_idx")
        ]

    def __str__(self) -> str:
        return f"{self.first_id} ~ {self.second_id}"


class MergeRecord(models.Model):
    """Everything needed to undo a merge: both customers' values and the moved rows."""

    survivor = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="merges"
    )
    absorbed = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_at = models.DateTimeField(default=timezone.now)
    survivor_before = models.JSONField(default=dict)
    absorbed_before = models.JSONField(default=dict)
    # {"app_label.model": [ids]} of rows moved from the absorbed customer to the survivor.
    moved = models.JSONField(default=dict)
    # {"app_label.model.field": {...}}: what a merge rule did beyond moving rows (a
    # registration it ended, history it wrote, access it changed), for the undo.
    details = models.JSONField(default=dict, blank=True)
    restored_at = models.DateTimeField(null=True, blank=True)
    restored_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("merge record")
        verbose_name_plural = _("merge records")
        indexes = [
            models.Index(fields=["survivor", "-merged_at"], name="merge_survivor_idx")
        ]

    def __str__(self) -> str:
        return f"{self.absorbed_id} -> {self.survivor_id}"


class ImportJob(models.Model):
    """One upload of a CSV or XLSX file: mapping, dry run, run, and revert."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        CHECKING = "checking", _("Dry run in progress")
        CHECKED = "checked", _("Dry run done")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        REVERTED = "reverted", _("Reverted")

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    # {"column header in the file": "customer field"}
    mapping = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.UPLOADED
    )
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    invalid_count = models.PositiveIntegerField(default=0)
    # The dry run's per-row verdicts (first rows only) shown before the real run.
    preview = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    rejected_file = models.FileField(upload_to="imports/rejected/%Y/%m/", blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    reverted_at = models.DateTimeField(null=True, blank=True)
    reverted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Values changed since the import that its revert left as they were.
    corrections_kept = models.PositiveIntegerField(
        _("values changed since the import and kept"), default=0
    )

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        indexes = [
            models.Index(fields=["created_by", "-created_at"], name="import_user_idx")
        ]

    def __str__(self) -> str:
        return self.original_name


class ImportChange(models.Model):
    """A customer an import created or updated, with the values before and after,
    for revert."""

    class Action(models.TextChoices):
        CREATED = "created", _("Created")
        UPDATED = "updated", _("Updated")

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="changes")
    customer = models.ForeignKey(
        Customer, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    before = models.JSONField(default=dict, blank=True)
    # The values the import wrote: the revert restores a field only while it still
    # holds this one (a correction made since is kept). Empty on changes recorded
    # before it was kept: their fields are restored.
    after = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["job", "action"], name="import_change_job_idx")]

    def __str__(self) -> str:
        return f"{self.job_id} {self.action} {self.customer_id}"


class ExportRecord(models.Model):
    """Who exported which customer list, when, and how many rows."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    filters = models.JSONField(default=dict, blank=True)
    file_format = models.CharField(max_length=10)
    row_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        indexes = [models.Index(fields=["user", "-created_at"], name="export_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.created_at:%Y-%m-%d %H:%M} {self.row_count}"


class CustomerAccess(models.Model):
    """A user who owns a customer through another app's rule (a protected registration
    at a project), so customers can scope its lists without knowing that app."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="access"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="customer_access",
    )
    reason = models.CharField(max_length=100, blank=True)
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("customer access")
        verbose_name_plural = _("customer access")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "user"], name="customer_access_unique"
            )
        ]
        indexes = [
            models.Index(fields=["user", "customer"], name="customer_access_user_idx")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.customer_id}"


class PersonalDataRequest(models.Model):
    """A personal-information request handled for one customer (PIPL): an export of
    everything the CRM holds about them, or their anonymisation. Who handled it, when,
    on what ground, and what was done or kept. Kept after anonymisation: it is the
    proof that the request was answered."""

    class Kind(models.TextChoices):
        EXPORT = "export", _("Export")
        ANONYMISE = "anonymise", _("Anonymisation")

    customer = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        related_name="personal_data_requests",
        verbose_name=_("customer"),
    )
    kind = models.CharField(_("request"), max_length=20, choices=Kind.choices)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("handled by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    handled_at = models.DateTimeField(_("when"), default=timezone.now)
    reference = models.CharField(_("ticket reference"), max_length=100)
    reason = models.CharField(_("reason"), max_length=300)
    file_format = models.CharField(_("file format"), max_length=10, blank=True)
    # {"counts": {section: rows}, "changed": {section: rows}, "kept": [{"section",
    # "reason", "count"}]}: data, rendered in the reader's language when shown.
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("personal information request")
        verbose_name_plural = _("personal information requests")
        indexes = [
            models.Index(
                fields=["customer", "-handled_at"], name="personal_data_customer_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.customer_id}"


class PortalCode(OutboxMessage):
    """A one-time sign-in code for the owners' portal, asked for a mobile number; an
    outbox row (crm_site.outbox), so asking never waits on the SMS provider.

    Every request is a row, whether the number belongs to an owner or not (``customer``
    empty, status skipped, nothing sent): the limits per number and per address count
    rows, and the answer is the same either way. The number itself is not stored, only
    its keyed hash (``phone_key``); the code only as a keyed hash (``code_hash``)."""

    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="portal_codes",
    )
    phone_key = models.CharField(max_length=64)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("portal sign-in code")
        verbose_name_plural = _("portal sign-in codes")
        indexes = [
            models.Index(
                fields=["phone_key", "-created_at"], name="portal_code_phone_idx"
            ),
            models.Index(
                fields=["ip_address", "-created_at"], name="portal_code_address_idx"
            ),
            models.Index(fields=["customer"], name="portal_code_customer_idx"),
            *outbox_indexes("portal_code"),
        ]

    def __str__(self) -> str:
        return f"{self.pk} {self.status}"


# The call-centre screen pop (来电弹屏) ---------------------------------------------


class AgentExtension(models.Model):
    """An agent's telephone extension: the telephony system names the extension a
    call rings on, the CRM shows the card to the user behind it. Edited in the admin."""

    extension = models.CharField(_("extension"), max_length=20, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("agent"),
        on_delete=models.CASCADE,
        related_name="telephony_extension",
    )

    class Meta:
        verbose_name = _("agent extension")
        verbose_name_plural = _("agent extensions")
        ordering = ["extension"]

    def __str__(self) -> str:
        return self.extension


class Call(models.Model):
    """One call the telephony system told us about, from ringing to its end.

    Events come in as they happen (customers.services.telephony.call_event); each sets
    its own time once, so a repeated event changes nothing. The call lands on the
    caller's timeline once (``interaction``), when it ends or when an unknown caller is
    registered from the card."""

    class Status(models.TextChoices):
        RINGING = "ringing", pgettext_lazy("call status", "Ringing")
        ANSWERED = "answered", pgettext_lazy("call status", "Answered")
        ENDED = "ended", pgettext_lazy("call status", "Ended")

    call_id = models.CharField(_("call id"), max_length=100, unique=True)
    # E.164 when the number parses; what the switch sent otherwise (a withheld number).
    caller = models.CharField(_("caller"), max_length=40, blank=True)
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="calls",
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("agent"),
        on_delete=models.PROTECT,
        related_name="calls",
    )
    extension = models.CharField(_("extension"), max_length=20)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.RINGING
    )
    ringing_at = models.DateTimeField(
        pgettext_lazy("call", "rang at"), null=True, blank=True
    )
    answered_at = models.DateTimeField(
        pgettext_lazy("call", "answered at"), null=True, blank=True
    )
    ended_at = models.DateTimeField(
        pgettext_lazy("call", "ended at"), null=True, blank=True
    )
    duration = models.PositiveIntegerField(_("duration (s)"), null=True, blank=True)
    # What the agent wrote on the card; goes on the timeline with the call.
    note = models.TextField(_("note"), blank=True)
    interaction = models.OneToOneField(
        Interaction,
        verbose_name=_("timeline entry"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        indexes = [
            # An agent's recent calls (the card, the stream's replay).
            models.Index(fields=["agent", "-created_at"], name="call_agent_idx"),
            # Calls of a number nobody was registered with yet.
            models.Index(
                fields=["caller", "-created_at"],
                name="call_unknown_caller_idx",
                condition=Q(customer__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.call_id


class ValueTier(models.Model):
    """A value tier (钻石, 黄金, 白银, 普通…): the customers whose value score reaches
    ``min_score`` and not the next tier's. The lowest tier also takes every score
    below its own threshold (a customer whose service cost exceeds their value), so
    every customer has a tier as long as one exists. Edited in the admin; a change
    re-tiers every customer at once (customers.value.value_tiers_apply)."""

    class Style(models.TextChoices):
        DARK = "dark", _("Dark")
        GOLD = "warning", _("Gold")
        SILVER = "secondary", _("Silver")
        BLUE = "primary", _("Blue")
        LIGHT = "light", _("Light")

    name = models.CharField(_("name"), max_length=30, unique=True)
    min_score = models.DecimalField(
        _("from value score (CNY)"),
        max_digits=16,
        decimal_places=2,
        unique=True,
        help_text=_(
            "Customers whose value score reaches this amount and not the next "
            "tier's. The lowest tier also takes every score below it."
        ),
    )
    style = models.CharField(
        _("badge colour"), max_length=20, choices=Style.choices, default=Style.LIGHT
    )

    class Meta:
        verbose_name = _("value tier")
        verbose_name_plural = _("value tiers")
        ordering = ["-min_score"]

    def __str__(self) -> str:
        return self.name


class CustomerValue(models.Model):
    """One row per live customer (anonymised ones left out): what they brought and
    what they cost, derived by customers.value from the contributions other apps
    register, never edited.

    The links hold no database constraint (db_constraint=False), like every fact
    row: a fact must never hold up a delete or a merge; the refresh removes the row
    of a customer who is gone or merged away."""

    customer = models.OneToOneField(
        Customer,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="value",
    )
    # The agreed price of the customer's deals under contract (contracted or paid).
    contracted = models.DecimalField(
        _("contracted value"), max_digits=16, decimal_places=2
    )
    # The contracted value of the buyers this customer referred (老带新).
    referred = models.DecimalField(_("referred value"), max_digits=16, decimal_places=2)
    # Work orders on the customer's service requests, less contractors' chargebacks.
    cost = models.DecimalField(_("service cost"), max_digits=16, decimal_places=2)
    # contracted + referral weight × referred − cost (customers.value.score_sql).
    score = models.DecimalField(_("value score"), max_digits=16, decimal_places=2)
    tier = models.ForeignKey(
        ValueTier,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        verbose_name=_("value tier"),
    )
    # The customer's source channel (Customer.source), for the explorer.
    channel = models.CharField(max_length=20, blank=True)
    # The project of the customer's first deal under contract.
    project_id = models.BigIntegerField(null=True)
    # What decides who may count the row (Customer.visible_to), copied from the
    # customer so that the explorer's scope needs no join on a million customers.
    consultant_id = models.BigIntegerField(null=True)
    consented = models.BooleanField(default=False)
    service = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("customer value")
        indexes = [
            # The top customers list and "value at least" segments.
            models.Index(fields=["-score", "-customer"], name="value_score_idx"),
            # The list and segments filtered by tier.
            models.Index(fields=["tier", "-score"], name="value_tier_idx"),
            # The list filtered by project.
            models.Index(fields=["project_id", "-score"], name="value_project_idx"),
            # The explorer's scope of a team.
            models.Index(fields=["consultant_id"], name="value_consultant_idx"),
        ]

    def __str__(self) -> str:
        return f"value of customer {self.customer_id}"


from customers.models_facts import InteractionFact  # noqa: E402, F401  (the explorer)
