"""Inventory: projects, buildings, units and their price history."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SalesAccess(models.Model):
    """Holds the sales permissions; no table."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("sales access")
        permissions = [
            ("view_sales_desk", _("Can see the sales desk")),
            ("view_sales_management", _("Can see sales approvals and the dashboard")),
            ("use_sales", _("Can use the sales desk")),
            ("manage_sales", _("Can manage sales teams")),
            ("manage_inventory", _("Can manage projects, buildings and units")),
        ]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


class Project(models.Model):
    """A development (楼盘) sold from one sales office."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    # A consultant may grant a discount up to this share of the list price on their own.
    discount_limit = models.DecimalField(
        _("consultant discount limit (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("2.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    hold_days = models.PositiveSmallIntegerField(
        _("reservation hold (days)"), default=3
    )
    is_active = models.BooleanField(_("on sale"), default=True)
    # Opening day (sales.models.opening): the usual deposit of intent, how many a buyer
    # (and their household) may hold at once, and whether the buyer's purchase
    # qualification (购房资格) must be checked before they may choose a unit.
    deposit_amount = models.DecimalField(
        _("deposit of intent"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("50000.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    deposits_per_buyer = models.PositiveSmallIntegerField(
        _("deposits per buyer and household"),
        default=1,
        validators=[MinValueValidator(1)],
    )
    requires_qualification = models.BooleanField(
        _("purchase qualification required"), default=False
    )
    # The sales teams of the project's sales office: their consultants' first contact
    # with a customer registers the customer here.
    teams = models.ManyToManyField(
        "crm_site.Team",
        verbose_name=_("sales teams"),
        blank=True,
        related_name="projects",
    )
    created_at = models.DateTimeField(
        _("created at"), default=timezone.now, editable=False
    )

    class Meta:
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Building(models.Model):
    project = models.ForeignKey(
        Project,
        on_delete=models.PROTECT,
        related_name="buildings",
        verbose_name=_("project"),
    )
    name = models.CharField(_("name"), max_length=50)
    floors = models.PositiveSmallIntegerField(_("floors"))
    units_per_floor = models.PositiveSmallIntegerField(_("units per floor"))
    # Floor numbers that do not exist (4, 14...): the floor above takes the next number.
    skipped_floors = models.JSONField(
        _("skipped floor numbers"), default=list, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"], name="building_unique_name"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project.name} {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("sales:building-grid", args=[self.pk])


class Unit(models.Model):
    class Status(models.TextChoices):
        AVAILABLE = "available", _("Available")
        RESERVED = "reserved", _("Reserved")
        SUBSCRIBED = "subscribed", _("Subscribed")
        CONTRACTED = "contracted", _("Contracted")
        HANDED_OVER = "handed_over", _("Handed over")
        NOT_FOR_SALE = "not_for_sale", _("Not for sale")

    class Orientation(models.TextChoices):
        SOUTH = "S", _("South")
        NORTH = "N", _("North")
        EAST = "E", _("East")
        WEST = "W", _("West")
        SOUTH_EAST = "SE", _("South-east")
        SOUTH_WEST = "SW", _("South-west")
        NORTH_SOUTH = "NS", _("North-south through")

    building = models.ForeignKey(
        Building,
        on_delete=models.PROTECT,
        related_name="units",
        verbose_name=_("building"),
    )
    number = models.CharField(_("unit number"), max_length=20)
    floor = models.SmallIntegerField(_("floor"))
    position = models.PositiveSmallIntegerField(_("position on the floor"))
    layout = models.CharField(_("layout"), max_length=50, blank=True)
    gross_area = models.DecimalField(
        _("gross area (m²)"), max_digits=8, decimal_places=2
    )
    net_area = models.DecimalField(
        _("net area (m²)"), max_digits=8, decimal_places=2, null=True, blank=True
    )
    orientation = models.CharField(
        _("orientation"), max_length=2, choices=Orientation.choices, blank=True
    )
    list_price = models.DecimalField(_("list price"), max_digits=14, decimal_places=2)
    floor_price = models.DecimalField(
        _("floor price"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.AVAILABLE
    )
    status_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        ordering = ["building", "-floor", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["building", "number"], name="unit_unique_number"
            ),
            models.UniqueConstraint(
                fields=["building", "floor", "position"], name="unit_unique_position"
            ),
        ]
        indexes = [models.Index(fields=["building", "status"], name="unit_status_idx")]

    def __str__(self) -> str:
        return f"{self.building} {self.number}"

    def get_absolute_url(self) -> str:
        return reverse("sales:unit-detail", args=[self.pk])

    @property
    def unit_price(self) -> Decimal:
        """Price per m² of gross area."""
        if not self.gross_area:
            return Decimal("0")
        return (self.list_price / self.gross_area).quantize(Decimal("1"))


class PriceChange(models.Model):
    """Every change of a unit's list price: who, when, why."""

    unit = models.ForeignKey(
        Unit, on_delete=models.CASCADE, related_name="price_changes"
    )
    old_price = models.DecimalField(max_digits=14, decimal_places=2)
    new_price = models.DecimalField(max_digits=14, decimal_places=2)
    reason = models.CharField(_("reason"), max_length=200)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("price change")
        verbose_name_plural = _("price changes")
        indexes = [
            models.Index(fields=["unit", "-changed_at"], name="price_change_unit_idx")
        ]

    def __str__(self) -> str:
        return f"{self.unit_id}: {self.old_price} → {self.new_price}"
