from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from crm_site.admin import AuditedAdmin
from customers.models import AgentExtension, Customer, ValueTier


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    """Customers are read-only here.

    A customer changes only through customers.services, which normalise phone numbers,
    refresh the pinyin and identity-number hash, write the audit trail and the consent
    history. The admin would skip all of that, so it shows records and links to the
    customer page ("View on site") where they are edited.
    """

    list_display = [
        "name",
        "mobile",
        "stage",
        "source",
        "assigned_consultant",
        "created_at",
    ]
    list_filter = ["stage", "source", "kind"]
    search_fields = ["name", "=mobile"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(AgentExtension)
class AgentExtensionAdmin(AuditedAdmin):
    """Which user answers which extension: the telephony system names the extension a
    call rings on, and that user's browser shows the caller's card (screen pop)."""

    list_display = ["extension", "user"]
    search_fields = ["extension", "user__username", "user__last_name"]
    autocomplete_fields = ["user"]


@admin.register(ValueTier)
class ValueTierAdmin(AuditedAdmin):
    """The value tiers and their thresholds (customers.value). Saving or deleting one
    re-tiers every customer in the same transaction."""

    list_display = ["name", "min_score", "style"]
    ordering = ["-min_score"]

    def save_model(self, request, obj, form, change) -> None:
        from customers.value import value_tiers_apply

        super().save_model(request, obj, form, change)
        value_tiers_apply()

    def delete_model(self, request, obj) -> None:
        from customers.value import value_tiers_apply

        super().delete_model(request, obj)
        value_tiers_apply()

    def delete_queryset(self, request, queryset) -> None:
        from customers.value import value_tiers_apply

        super().delete_queryset(request, queryset)
        value_tiers_apply()
