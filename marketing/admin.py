from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from crm_site.admin import AuditedAdmin
from marketing.models import ClubLevel, PointEntry, PointRule, ReferralRule


@admin.register(ReferralRule)
class ReferralRuleAdmin(AuditedAdmin):
    """The reward per project; projects without a rule use REFERRAL_REWARD_DEFAULT."""

    list_display = ["project", "reward", "updated_at"]


@admin.register(ClubLevel)
class ClubLevelAdmin(AuditedAdmin):
    """The member club's levels: a member holds the highest level whose minimum their
    balance reaches."""

    list_display = ["name", "min_points", "order"]
    ordering = ["min_points"]


@admin.register(PointRule)
class PointRuleAdmin(AuditedAdmin):
    """Points per occurrence of each source; an inactive rule earns nothing. A
    changed amount applies to what is awarded from then on: entries stay as they are."""

    list_display = ["source", "points", "is_active", "updated_at"]
    list_editable = ["points", "is_active"]


@admin.register(PointEntry)
class PointEntryAdmin(admin.ModelAdmin):
    """The ledger, to read: entries are never changed or deleted. Staff correct a
    balance on the member's ledger page (a new entry with its reason, audited)."""

    list_display = [
        "occurred_at",
        "member",
        "kind",
        "source_name",
        "points",
        "reason",
        "created_by",
    ]
    list_filter = ["kind", "source"]
    list_select_related = ["member", "created_by"]
    raw_id_fields = ["member", "corrects"]
    search_fields = ["key"]
    show_full_result_count = False
    actions = None

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("source"))
    def source_name(self, obj: PointEntry) -> str:
        return obj.source_label
