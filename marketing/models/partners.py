"""Channel partners (渠道): agencies whose brokers register customers for a commission."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketing.models.payouts import Payout

CENT = Decimal("0.01")


class ChannelPartner(models.Model):
    class CommissionKind(models.TextChoices):
        PERCENT = "percent", _("Percent of the contracted price")
        FIXED = "fixed", _("Fixed amount per deal")

    name = models.CharField(_("company"), max_length=200, unique=True)
    contact_name = models.CharField(_("contact person"), max_length=100)
    contact_phone = models.CharField(_("contact phone"), max_length=20)
    commission_kind = models.CharField(
        _("commission rule"),
        max_length=10,
        choices=CommissionKind.choices,
        default=CommissionKind.PERCENT,
    )
    commission_value = models.DecimalField(
        _("commission (percent or amount)"),
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("channel partner")
        verbose_name_plural = _("channel partners")
        ordering = ["name"]
        default_permissions = ("add", "change", "view")
        permissions = [
            ("partner_portal", _("Can use the channel partner portal")),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("marketing:partner-detail", args=[self.pk])

    def commission_for(self, price: Decimal | None) -> Decimal:
        """The commission on a deal contracted at this price, in yuan to the fen."""
        if self.commission_kind == self.CommissionKind.FIXED:
            return self.commission_value.quantize(CENT)
        return (
            (price or Decimal("0")) * self.commission_value / Decimal("100")
        ).quantize(CENT, rounding=ROUND_HALF_UP)


class Broker(models.Model):
    """A login of a partner's broker. The user holds the channel_partner role."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="broker"
    )
    partner = models.ForeignKey(
        ChannelPartner,
        on_delete=models.PROTECT,
        related_name="brokers",
        verbose_name=_("channel partner"),
    )

    class Meta:
        verbose_name = _("broker")
        verbose_name_plural = _("brokers")
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.user} ({self.partner})"


class PartnerRegistration(models.Model):
    """A sales registration (客户报备) made by a broker for their partner. The
    protection itself lives on sales' Registration, decided by the same rules."""

    registration = models.OneToOneField(
        "sales.Registration", on_delete=models.PROTECT, related_name="partner_link"
    )
    partner = models.ForeignKey(
        ChannelPartner, on_delete=models.PROTECT, related_name="registrations"
    )
    broker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # Copied from the registration so commission lookups need no join.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+"
    )
    project = models.ForeignKey(
        "sales.Project", on_delete=models.PROTECT, related_name="+"
    )
    # The name the broker typed. The portal shows it, never the customer's name in the
    # CRM: a number that matched an existing customer must not tell the broker whose
    # number it is.
    name_given = models.CharField(
        _("name given by the broker"), max_length=100, blank=True, default=""
    )
    # The number the broker typed (E.164): the portal masks it, never the customer's
    # own primary mobile, which differs when the number is a known customer's second
    # phone, or after a merge or a change of number at the desk.
    mobile_given = models.CharField(
        _("mobile given by the broker"), max_length=20, blank=True, default=""
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("partner registration")
        verbose_name_plural = _("partner registrations")
        default_permissions = ()
        indexes = [
            models.Index(
                fields=["partner", "-created_at"], name="partner_reg_partner_idx"
            ),
            models.Index(
                fields=["customer", "project", "-created_at"],
                name="partner_reg_customer_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner}: {self.customer_id}@{self.project_id}"


class Commission(Payout):
    """The partner's commission on a contracted deal of a customer they registered."""

    TRANSITIONS = {
        Payout.Status.DUE: {Payout.Status.PAID},
        Payout.Status.PAID: set(),
    }

    partner = models.ForeignKey(
        ChannelPartner,
        on_delete=models.PROTECT,
        related_name="commissions",
        verbose_name=_("channel partner"),
    )
    # One commission per deal, whatever happens twice.
    opportunity = models.OneToOneField(
        "sales.Opportunity",
        on_delete=models.PROTECT,
        related_name="partner_commission",
        verbose_name=_("deal"),
    )
    registration = models.ForeignKey(
        PartnerRegistration, on_delete=models.PROTECT, related_name="commissions"
    )
    # The price it was computed from, so the arithmetic can be checked later.
    base_price = models.DecimalField(
        _("contracted price"), max_digits=14, decimal_places=2, null=True
    )

    class Meta:
        verbose_name = _("commission")
        verbose_name_plural = _("commissions")
        default_permissions = ("view",)
        indexes = [
            models.Index(
                fields=["partner", "status", "-due_at"], name="commission_partner_idx"
            ),
            models.Index(fields=["status", "-due_at"], name="commission_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.partner}: {self.amount} ({self.status})"
