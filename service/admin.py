from __future__ import annotations

from django.contrib import admin

from service.models import SurveyQuestion, SurveyTemplate


class SurveyQuestionInline(admin.TabularInline):
    model = SurveyQuestion
    extra = 0


@admin.register(SurveyTemplate)
class SurveyTemplateAdmin(admin.ModelAdmin):
    """Administrators change the questions and their weights here; answers already
    given keep the index they had."""

    list_display = ["name", "occasion", "is_active"]
    list_filter = ["occasion", "is_active"]
    inlines = [SurveyQuestionInline]
