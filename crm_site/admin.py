from __future__ import annotations

import axes.admin  # registers axes' admins first, so ours can replace one
from axes.admin import AccessAttemptAdmin as BaseAccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from crm_site import overview
from crm_site.lockout import login_unlock
from crm_site.models import AuditEntry, Heartbeat, Target, Team, User


def _unlocked_message(request: HttpRequest, count: int) -> None:
    messages.success(
        request,
        _("Log-in unlocked: %(count)s failed-attempt records removed.")
        % {"count": count},
    )


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (*BaseUserAdmin.fieldsets, (_("Sales team"), {"fields": ("team",)}))
    list_display = ["username", "last_name", "first_name", "team", "is_active"]
    list_filter = ["groups", "team", "is_active"]
    actions = ["unlock_login"]

    @admin.action(
        description=_("Unlock log-in (forget failed attempts)"),
        permissions=["change"],
    )
    def unlock_login(self, request: HttpRequest, queryset) -> None:
        count = sum(
            login_unlock(actor=request.user, username=username)
            for username in queryset.values_list("username", flat=True)
        )
        _unlocked_message(request, count)


# Axes' list of failed attempts, where an administrator unlocks a username or an
# address; removing rows here is the unlock, so it goes through login_unlock (audited).
admin.site.unregister(axes.admin.AccessAttempt)


@admin.register(AccessAttempt)
class AccessAttemptAdmin(BaseAccessAttemptAdmin):
    actions = ["unlock"]

    @admin.action(description=_("Unlock (forget these failed attempts)"))
    def unlock(self, request: HttpRequest, queryset) -> None:
        _unlocked_message(request, login_unlock(actor=request.user, attempts=queryset))

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        if not self.has_delete_permission(request):
            actions.pop("unlock", None)
        return actions

    def delete_model(self, request: HttpRequest, obj: AccessAttempt) -> None:
        login_unlock(
            actor=request.user, attempts=AccessAttempt.objects.filter(pk=obj.pk)
        )

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        login_unlock(actor=request.user, attempts=queryset)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "content_type", "object_repr"]
    list_filter = ["action", "content_type"]
    raw_id_fields = ["actor"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["component", "last_seen"]


class TargetForm(forms.ModelForm):
    """The figure is chosen from those the apps registered with the overview."""

    class Meta:
        model = Target
        fields = ["figure", "month", "project", "team", "value"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["figure"] = forms.ChoiceField(
            label=Target._meta.get_field("figure").verbose_name,
            choices=overview.figure_choices(),
        )

    def clean_month(self):
        return self.cleaned_data["month"].replace(day=1)


@admin.register(Target)
class TargetAdmin(admin.ModelAdmin):
    form = TargetForm
    list_display = ["figure_label", "month", "project", "team", "value"]
    list_filter = ["figure", "team", "project"]
    date_hierarchy = "month"

    @admin.display(description=_("figure"), ordering="figure")
    def figure_label(self, obj: Target) -> str:
        return str(dict(overview.figure_choices()).get(obj.figure, obj.figure))
