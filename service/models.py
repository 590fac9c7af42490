"""Service models. For now only the app's permissions, which roles grant."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ServiceAccess(models.Model):
    """Holds the service permissions; no table."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("service access")
        permissions = [
            ("use_service", _("Can use the service desk")),
            ("manage_service", _("Can manage the service desk")),
        ]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)
