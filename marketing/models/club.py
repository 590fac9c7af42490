"""The member club (会员俱乐部): levels and point rules the company sets in the admin,
a points ledger per member that is never edited in place, and each member's balance.

The ledger (PointEntry) is the truth: an entry is only ever added. A wrong entry is
answered by a correction, a new entry with the opposite points and the reason. Awards
carry a unique key per source occurrence ("survey:123", "ownership:45:2"), so the
periodic job and the on-commit triggers may both see the same fact and it still earns
points once. ClubMember keeps each member's balance (the sum of their entries),
refreshed from the ledger in the transaction that adds entries, so the members list
can filter and sort by it without summing the ledger of a million customers.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketing.points import source_choices


class ClubLevel(models.Model):
    """A level of the club (普卡, 银卡, 金卡 …): a member holds the highest level whose
    minimum their balance reaches."""

    name = models.CharField(_("name"), max_length=50, unique=True)
    min_points = models.PositiveIntegerField(
        _("minimum points"),
        unique=True,
        help_text=_("A member with at least this balance holds the level."),
    )
    benefits = models.TextField(
        _("benefits"),
        blank=True,
        help_text=_("What a member of this level enjoys, one benefit per line."),
    )
    order = models.PositiveSmallIntegerField(
        _("order"), default=0, help_text=_("Position in lists; lower comes first.")
    )

    class Meta:
        verbose_name = _("club level")
        verbose_name_plural = _("club levels")
        ordering = ["min_points"]

    def __str__(self) -> str:
        return self.name

    @property
    def benefit_lines(self) -> list[str]:
        return [line.strip() for line in self.benefits.splitlines() if line.strip()]


class PointRule(models.Model):
    """How many points one occurrence of a source earns. Sources are registered by the
    apps that see the facts (marketing.points); an inactive rule earns nothing, and a
    changed amount applies to occurrences awarded from then on."""

    source = models.CharField(
        _("source"), max_length=40, choices=source_choices, unique=True
    )
    points = models.IntegerField(
        _("points per occurrence"), validators=[MinValueValidator(1)]
    )
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("point rule")
        verbose_name_plural = _("point rules")
        ordering = ["source"]
        constraints = [
            models.CheckConstraint(
                condition=Q(points__gt=0), name="point_rule_points_positive"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()}: {self.points}"


class LedgerIsAppendOnly(ValidationError):
    """An attempt to change or delete a ledger entry: add a correction instead."""


class PointEntryQuerySet(models.QuerySet):
    """The ledger's queries refuse bulk changes and deletes. (A customer merge points
    the entries at the surviving customer through the base manager: that moves them
    whole, it edits no entry.)"""

    def update(self, **kwargs):
        raise LedgerIsAppendOnly(
            _("Points entries are never changed; add a correction.")
        )

    def delete(self):
        raise LedgerIsAppendOnly(
            _("Points entries are never deleted; add a correction.")
        )

    def balance(self) -> int:
        return self.aggregate(total=models.Sum("points"))["total"] or 0

    # Whether an award stands. An occurrence that no longer stands (a cancelled deal,
    # a twin record merged away) is taken back by a correction that carries the
    # award's source and corrects it; when the occurrence stands again (the merge is
    # undone) that take-back is answered in turn by a correction with the same source
    # that corrects the take-back. The ledger writes nothing deeper, so an award's
    # chain is those two levels; staff corrections carry no source and take back no
    # occurrence. The award stands when its chain nets to nothing: every take-back
    # answered, however many times it was taken back and given back.

    def _chain_net(self):
        """The points of an award's chain: its take-backs and their answers (two
        subqueries, each on the ``corrects`` index: one OR across the join would
        scan the ledger)."""

        def net(**link):
            return Coalesce(
                Subquery(
                    self.model.objects.filter(
                        kind=PointEntry.Kind.CORRECTION,
                        source=OuterRef("source"),
                        **link,
                    )
                    .order_by()
                    .values("source")
                    .annotate(net=Sum("points"))
                    .values("net")
                ),
                0,
            )

        return net(corrects_id=OuterRef("pk")) + net(
            corrects__corrects_id=OuterRef("pk")
        )

    def standing(self) -> PointEntryQuerySet:
        """The awards that stand: never taken back, or every take-back answered."""
        return (
            self.filter(kind=PointEntry.Kind.AWARD)
            .alias(chain_net=self._chain_net())
            .filter(chain_net=0)
        )

    def taken_back(self) -> PointEntryQuerySet:
        """The awards that do not stand: taken back, and not given back since."""
        return (
            self.filter(kind=PointEntry.Kind.AWARD)
            .alias(chain_net=self._chain_net())
            .exclude(chain_net=0)
        )

    def unanswered(self) -> PointEntryQuerySet:
        """Take-backs no correction with their source answers yet (answering one
        twice would give its award back twice)."""
        answers = self.model.objects.filter(
            kind=PointEntry.Kind.CORRECTION,
            corrects_id=OuterRef("pk"),
            source=OuterRef("source"),
        )
        return (
            self.filter(kind=PointEntry.Kind.CORRECTION)
            .exclude(source="")
            .exclude(Exists(answers))
        )


class PointEntry(models.Model):
    """One line of a member's points ledger: an award for an occurrence of a source, or
    a correction by staff with its reason. Never changed, never deleted."""

    class Kind(models.TextChoices):
        AWARD = "award", _("Award")
        CORRECTION = "correction", _("Correction")

    member = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="point_entries",
        verbose_name=_("member"),
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    points = models.IntegerField(_("points"))
    source = models.CharField(_("source"), max_length=40, blank=True)
    # One award per occurrence of a source (empty for corrections).
    key = models.CharField(_("occurrence"), max_length=80, blank=True, default="")
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    # The entry a correction answers, when it answers one.
    corrects = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="corrections",
        verbose_name=_("corrects"),
    )
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("by"),
    )

    objects = PointEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("points entry")
        verbose_name_plural = _("points entries")
        default_permissions = ("view",)
        permissions = [
            ("correct_points", _("Can correct members' points (a new entry)")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=~Q(key=""), name="point_entry_key_unique"
            ),
            models.CheckConstraint(
                condition=~Q(points=0), name="point_entry_points_not_zero"
            ),
            models.CheckConstraint(
                condition=Q(kind="correction", key="") | Q(kind="award") & ~Q(key=""),
                name="point_entry_award_has_key",
            ),
        ]
        indexes = [
            models.Index(
                fields=["member", "-occurred_at"], name="point_entry_member_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.points:+d} {self.source or self.kind}"

    def save(self, *args, **kwargs) -> None:
        # Append-only: a row that exists is never written again.
        if not self._state.adding:
            raise LedgerIsAppendOnly(
                _("Points entries are never changed; add a correction.")
            )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerIsAppendOnly(
            _("Points entries are never deleted; add a correction.")
        )

    @property
    def source_label(self) -> str:
        from marketing.points import source_label

        if self.kind == self.Kind.CORRECTION:
            return str(self.Kind.CORRECTION.label)
        return source_label(self.source)


class ClubMember(models.Model):
    """A member's balance: the sum of their ledger, refreshed whenever entries are
    added (marketing.services.club.balances_refresh), never set by hand."""

    customer = models.OneToOneField(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="club_member",
        verbose_name=_("member"),
    )
    balance = models.IntegerField(_("points"), default=0)
    joined_at = models.DateTimeField(_("member since"), default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("club member")
        verbose_name_plural = _("club members")
        default_permissions = ()
        indexes = [
            models.Index(
                fields=["-balance", "customer"], name="club_member_balance_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.balance}"
