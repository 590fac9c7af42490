"""Marketing models. For now only the app's permissions, which roles grant."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class MarketingAccess(models.Model):
    """Holds the marketing permissions; no table."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("marketing access")
        permissions = [("use_marketing", _("Can use marketing"))]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)
