from __future__ import annotations

from django.contrib import admin

from crm_site.admin import AuditedAdmin
from service.models import (
    DeadlineRule,
    MailboxSettings,
    SurveyQuestion,
    SurveyTemplate,
)


class SurveyQuestionInline(admin.TabularInline):
    model = SurveyQuestion
    extra = 0


@admin.register(SurveyTemplate)
class SurveyTemplateAdmin(AuditedAdmin):
    """Administrators change the questions and their weights here; answers already
    given keep the index they had."""

    list_display = ["name", "occasion", "is_active"]
    list_filter = ["occasion", "is_active"]
    inlines = [SurveyQuestionInline]


@admin.register(DeadlineRule)
class DeadlineRuleAdmin(AuditedAdmin):
    """Hours to respond and to resolve per category and severity; a new request takes
    its deadlines from here (requests already received keep theirs)."""

    list_display = ["severity", "category", "response_hours", "resolution_hours"]
    list_filter = ["severity", "category"]


@admin.register(MailboxSettings)
class MailboxSettingsAdmin(AuditedAdmin):
    """The GM mailbox's deadline (one row): a letter written from now on must be
    answered within this many (working) days, else it is escalated."""

    list_display = ["__str__", "answer_within_days", "working_days_only"]

    def has_add_permission(self, request) -> bool:
        return not MailboxSettings.objects.exists() and super().has_add_permission(
            request
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
