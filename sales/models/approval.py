"""What every request that waits for a sales manager's decision records."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Decided(models.Model):
    """Who asked and when; who decided, when and why. Subclasses add their status."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=200, blank=True)

    class Meta:
        abstract = True


def other_eyes(actor, concerned_id: int | None) -> bool:
    """Four eyes: whether ``actor`` may decide on what concerns the user
    ``concerned_id`` (who asked, whose commission it is): anyone else may, and an
    administrator may too (a company whose one sales manager asks still has someone
    to decide)."""
    return concerned_id != actor.pk or actor.has_perm("crm_site.use_admin")


def withdraws(request: Decided, actor) -> bool:
    """Whether ``actor`` deciding against ``request`` takes back their own: asked
    nothing, told nothing (asking again undoes it)."""
    return request.requested_by_id == actor.pk


def may_approve(request: Decided, actor) -> bool:
    """Who asked does not approve (rejecting, and so withdrawing, their own request
    they may)."""
    return other_eyes(actor, request.requested_by_id)


def refuse_own_approval(request: Decided, actor) -> None:
    """may_approve, as a refusal with its reason."""
    if not may_approve(request, actor):
        raise ValidationError(
            _("Someone else than who asked approves it: another sales manager.")
        )
