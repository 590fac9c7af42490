"""The one customer table shared by sales, service and marketing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.phones import format_phone, mask_phone
from customers.querysets import CustomerQuerySet

if TYPE_CHECKING:
    from crm_site.models import User


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

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(
        _("customer type"), max_length=10, choices=Kind.choices, default=Kind.PERSON
    )
    # E.164 ('+8613800138000'); unique so that one person is one customer.
    mobile = models.CharField(_("mobile"), max_length=20, unique=True)
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
    notes = models.TextField(_("notes"), blank=True)
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

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("scope_all", _("Can see every customer")),
            ("scope_team", _("Can see the customers of own sales team")),
            ("scope_own", _("Can see own customers and the public pool")),
            ("scope_service", _("Can see buyers and owners")),
            ("view_contact", _("Can see full phone numbers")),
            ("assign_customer", _("Can assign customers to consultants")),
        ]
        indexes = [
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
            GinIndex(
                fields=["mobile"],
                name="customer_mobile_trgm",
                opclasses=["gin_trgm_ops"],
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("customers:customer-detail", args=[self.pk])

    def contact_visible_to(self, user: User) -> bool:
        """Full numbers go to the consultant who owns the customer and to roles with the right."""
        return user.has_perm("customers.view_contact") or (
            self.assigned_consultant_id is not None
            and self.assigned_consultant_id == user.pk
        )

    def mobile_for(self, user: User) -> str:
        if self.contact_visible_to(user):
            return format_phone(self.mobile)
        return mask_phone(self.mobile)
