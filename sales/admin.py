from __future__ import annotations

from django.contrib import admin

from crm_site.admin import AuditedAdmin
from sales.models import Project


@admin.register(Project)
class ProjectAdmin(AuditedAdmin):
    """A project's settings and its sales teams (whose consultants' first contact
    registers a customer at the project). Buildings, units and deals are managed on
    the sales desk, where their rules and audit trail apply."""

    list_display = ["name", "city", "is_active", "discount_limit", "hold_days"]
    list_filter = ["is_active", "city"]
    search_fields = ["name"]
    filter_horizontal = ["teams"]
    fields = [
        "name",
        "city",
        "address",
        "is_active",
        "discount_limit",
        "hold_days",
        "teams",
    ]

    def has_delete_permission(self, request, obj=None) -> bool:
        # Projects carry buildings, deals and registrations: they are closed
        # (not on sale), never deleted.
        return False
