"""Sales models. For now only the app's permissions, which roles grant."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class SalesAccess(models.Model):
    """Holds the sales permissions; no table."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("sales access")
        permissions = [
            ("use_sales", _("Can use the sales desk")),
            ("manage_sales", _("Can manage sales teams")),
        ]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)
