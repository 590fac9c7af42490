"""Segments: saved filters over the shared customer table that campaigns target."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Segment(models.Model):
    """A named set of customer filters; the members are computed, never stored, until
    a campaign that targets the segment starts and snapshots them."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    # The cleaned filter values (marketing.forms.SegmentForm), as JSON-friendly strings.
    criteria = models.JSONField(_("filters"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("marketing:segment-edit", args=[self.pk])
