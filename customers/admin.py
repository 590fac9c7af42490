from __future__ import annotations

from django.contrib import admin

from customers.models import Customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
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
    raw_id_fields = ["assigned_consultant", "created_by"]
    show_full_result_count = False
