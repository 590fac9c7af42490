from __future__ import annotations

from django.contrib import admin

from marketing.models import ReferralRule


@admin.register(ReferralRule)
class ReferralRuleAdmin(admin.ModelAdmin):
    """The reward per project; projects without a rule use REFERRAL_REWARD_DEFAULT."""

    list_display = ["project", "reward", "updated_at"]
