"""The admin site, open to administrators only."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _


class CrmAdminSite(admin.AdminSite):
    site_header = _("Anju CRM administration")
    site_title = _("Anju CRM")

    def has_permission(self, request: HttpRequest) -> bool:
        # Administrators only: the staff flag alone does not open the admin.
        user = request.user
        return user.is_active and (
            user.is_superuser or user.has_perm("crm_site.use_admin")
        )
