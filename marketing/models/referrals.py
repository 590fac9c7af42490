"""Owner referrals (老带新): who brought whom, and the reward once the friend signs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
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
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

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
    # Empty when the owner recommended the friend themselves, in the owner portal.
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    recorded_at = models.DateTimeField(_("referred on"), default=timezone.now)
    # The friend's name as the referrer gave it. The owner portal shows this, never
    # the name in the CRM: a number that matched an existing customer must not tell
    # the owner whose number it is.
    name_given = models.CharField(
        _("name given by the referrer"), max_length=100, blank=True, default=""
    )

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


class Recommendation(models.Model):
    """An owner recommended a friend in the owner portal (老带新): what they entered,
    their statement that the friend agreed to be contacted, and what came of it.

    Accepted, it is a Referral like one recorded at the desk. Declined (the friend was
    already referred, has already bought, or is the owner's own household), only the
    staff see why: the owner's portal shows the recommendation as received, so it
    never tells an owner anything about an existing customer."""

    class Outcome(models.TextChoices):
        REFERRED = "referred", _("Recorded as a referral")
        ALREADY_REFERRED = "already_referred", _("Already referred by someone else")
        ALREADY_SIGNED = "already_signed", _("Has already bought (buyer or co-buyer)")
        OWN_HOUSEHOLD = "own_household", _("Belongs to the owner's own household")

    owner = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="recommendations",
        verbose_name=_("owner"),
    )
    name_given = models.CharField(_("friend's name"), max_length=100)
    mobile_given = models.CharField(_("friend's mobile"), max_length=20)
    friend_agreed = models.BooleanField(
        _("the friend agreed to be contacted"), default=False
    )
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)
    referral = models.OneToOneField(
        Referral,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recommendation",
        verbose_name=_("referral"),
    )
    created_at = models.DateTimeField(_("recommended on"), default=timezone.now)

    class Meta:
        verbose_name = _("recommendation from the owner portal")
        verbose_name_plural = _("recommendations from the owner portal")
        default_permissions = ()
        indexes = [
            models.Index(
                fields=["owner", "-created_at"], name="recommendation_owner_idx"
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(friend_agreed=True), name="recommendation_friend_agreed"
            )
        ]

    def __str__(self) -> str:
        return f"{self.owner_id} → {self.name_given}"
