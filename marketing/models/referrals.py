"""Owner referrals (老带新): who brought whom, and the reward once the friend signs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketing.models.payouts import Payout


class ReferralRule(models.Model):
    """The reward of a project's referrals; projects without one use the setting
    REFERRAL_REWARD_DEFAULT."""

    project = models.OneToOneField(
        "sales.Project",
        on_delete=models.CASCADE,
        related_name="referral_rule",
        verbose_name=_("project"),
    )
    reward = models.DecimalField(
        _("reward per contract"), max_digits=12, decimal_places=2
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("referral rule")
        verbose_name_plural = _("referral rules")

    def __str__(self) -> str:
        return f"{self.project}: {self.reward}"


class Referral(models.Model):
    """An owner (referrer) brought a friend. A friend is referred once: the first
    referrer is the one rewarded."""

    referrer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="referrals_made",
        verbose_name=_("referrer"),
    )
    friend = models.OneToOneField(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="referred_by",
        verbose_name=_("friend"),
    )
    # The project the friend is interested in; empty means any.
    project = models.ForeignKey(
        "sales.Project",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("project"),
    )
    # The friend's deal, once there is one (set when it is contracted at the latest).
    opportunity = models.ForeignKey(
        "sales.Opportunity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("deal"),
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    recorded_at = models.DateTimeField(_("referred on"), default=timezone.now)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        default_permissions = ("add", "view")
        permissions = [
            ("approve_reward", _("Can approve referral rewards")),
            ("pay_reward", _("Can mark referral rewards and commissions paid")),
        ]
        indexes = [
            models.Index(fields=["-recorded_at", "-id"], name="referral_recorded_idx"),
            models.Index(
                fields=["project", "-recorded_at"], name="referral_project_idx"
            ),
            models.Index(
                fields=["referrer", "-recorded_at"], name="referral_referrer_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.referrer} → {self.friend}"

    def get_absolute_url(self) -> str:
        return reverse("marketing:referral-detail", args=[self.pk])


class ReferralReward(Payout):
    """The referrer's reward, due when the friend's deal is contracted; one per referral."""

    referral = models.OneToOneField(
        Referral, on_delete=models.PROTECT, related_name="reward"
    )

    class Meta:
        verbose_name = _("referral reward")
        verbose_name_plural = _("referral rewards")
        indexes = [
            models.Index(
                fields=["status", "-due_at"], name="referral_reward_status_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.referral}: {self.amount} ({self.status})"
