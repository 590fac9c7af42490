from __future__ import annotations

import axes.admin  # registers axes' admins first, so ours can replace one
from axes.admin import AccessAttemptAdmin as BaseAccessAttemptAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from crm_site import overview
from crm_site.api.keys import (
    AUDITED,
    api_key_create,
    api_key_revoke,
    api_key_rotate,
    api_key_update,
)
from crm_site.api.models import ApiKey
from crm_site.api.scopes import Scope
from crm_site.audit import audit_record, snapshot
from crm_site.lockout import login_unlock
from crm_site.models import AuditEntry, Heartbeat, Target, Team, User
from crm_site.personal_data import HIDDEN
from crm_site.roles import Role


def _field_value(obj, field) -> str:
    if field.many_to_many:
        related = getattr(obj, field.name).all()
        if field.related_model is Permission:
            names = [
                f"{app_label}.{codename}"
                for app_label, codename in related.values_list(
                    "content_type__app_label", "codename"
                )
            ]
        else:
            names = [str(row) for row in related]
        return ", ".join(sorted(names))
    value = getattr(obj, field.attname)
    return "" if value is None or value == "" else str(value)


class AuditedDeletes(admin.ModelAdmin):
    """A delete made in the admin, one or a selection, leaves an audit entry: for
    models whose adds and changes the admin hands to a service that audits them."""

    def delete_model(self, request: HttpRequest, obj) -> None:
        audit_record(actor=request.user, instance=obj, action=AuditEntry.Action.DELETE)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for obj in queryset:
            audit_record(
                actor=request.user, instance=obj, action=AuditEntry.Action.DELETE
            )
        super().delete_queryset(request, queryset)


class AuditedAdmin(AuditedDeletes):
    """Every add, change and delete made in the admin leaves an audit entry with the
    old and new values, many-to-many fields included (a user's groups, a group's
    permissions): who gave whom which rights is the first question after an incident.
    Rows of an inline (a survey's questions) are recorded each as its own entry.
    Secrets (``hidden_fields``) are recorded as changed, never their value."""

    hidden_fields: tuple[str, ...] = ()

    def _audited_values(self, obj) -> dict[str, str]:
        meta = obj._meta
        fields = [f for f in meta.concrete_fields if not f.primary_key]
        values = {f.name: _field_value(obj, f) for f in [*fields, *meta.many_to_many]}
        for name in self.hidden_fields:
            if values.get(name):
                values[name] = HIDDEN + values[name]  # compared, never recorded
        return values

    def _stored(self, model, pks) -> dict[int, dict[str, str]]:
        """The audited values of ``model``'s rows ``pks`` as the database holds
        them (a form's 30 is the row's 30.00: read back, nothing looks changed
        that is not)."""
        return {
            row.pk: self._audited_values(row)
            for row in model._base_manager.filter(pk__in=list(pks))
        }

    def _record(
        self, request: HttpRequest, obj, before: dict | None, after: dict
    ) -> None:
        """An entry for ``obj`` with its values ``after`` against ``before`` (None:
        it was added); none when nothing changed."""
        if before is None:
            changes = {n: {"old": "", "new": v} for n, v in after.items() if v}
            action = AuditEntry.Action.CREATE
        else:
            changes = {
                n: {"old": before.get(n, ""), "new": v}
                for n, v in after.items()
                if before.get(n, "") != v
            }
            action = AuditEntry.Action.UPDATE
        for name in self.hidden_fields:
            if name in changes:
                changes[name] = {"old": HIDDEN, "new": HIDDEN}
        if changes or action == AuditEntry.Action.CREATE:
            audit_record(
                actor=request.user, instance=obj, action=action, changes=changes
            )

    def save_model(self, request: HttpRequest, obj, form, change) -> None:
        if change:
            obj._admin_audit_before = self._stored(type(obj), [obj.pk])[obj.pk]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        obj = form.instance
        after = self._stored(type(obj), [obj.pk])[obj.pk]
        self._record(request, obj, getattr(obj, "_admin_audit_before", None), after)

    def save_formset(self, request: HttpRequest, form, formset, change) -> None:
        # The rows as stored: the forms' instances already hold the new values.
        before = self._stored(
            formset.model, [f.instance.pk for f in formset.initial_forms]
        )
        for gone in formset.deleted_forms:
            if gone.instance.pk is not None:
                audit_record(
                    actor=request.user,
                    instance=gone.instance,
                    action=AuditEntry.Action.DELETE,
                )
        super().save_formset(request, form, formset, change)
        saved = [*formset.new_objects, *(row for row, _n in formset.changed_objects)]
        after = self._stored(formset.model, [row.pk for row in saved])
        for row in formset.new_objects:
            self._record(request, row, None, after[row.pk])
        for row, _names in formset.changed_objects:
            self._record(request, row, before.get(row.pk, {}), after[row.pk])


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the system writes and nobody edits: shown, never added, changed or
    deleted in the admin."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def _unlocked_message(request: HttpRequest, count: int) -> None:
    messages.success(
        request,
        _("Log-in unlocked: %(count)s failed-attempt records removed.")
        % {"count": count},
    )


@admin.register(User)
class UserAdmin(AuditedAdmin, BaseUserAdmin):
    hidden_fields = ("password",)
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

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        # Only a superuser makes superusers: an administrator holds the rights of the
        # role, and must not hand themselves (or an accomplice) every other right,
        # the audit trail's deletion included.
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields.append("is_superuser")
        return fields

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # Nor does an administrator change a superuser (their password, their groups).
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def user_change_password(self, request: HttpRequest, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = self.get_object(request, id)
            audit_record(
                actor=request.user,
                instance=user,
                action=AuditEntry.Action.UPDATE,
                changes={"password": {"old": HIDDEN, "new": HIDDEN}},
            )
        return response


# Roles are groups: who may do what changes here (crm_site.roles), audited.
admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(AuditedAdmin, BaseGroupAdmin):
    pass


# Axes' list of failed attempts, where an administrator unlocks a username or an
# address; removing rows here is the unlock, so it goes through login_unlock (audited).
admin.site.unregister(axes.admin.AccessAttempt)
# Axes' logs of log-ins and failed log-ins are evidence after an incident: shown,
# never changed or deleted here (axes' own clean-up ages them out).
admin.site.unregister(AccessLog)
admin.site.unregister(AccessFailureLog)


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyAdmin, axes.admin.AccessLogAdmin):
    pass


@admin.register(AccessFailureLog)
class AccessFailureLogAdmin(ReadOnlyAdmin, axes.admin.AccessFailureLogAdmin):
    pass


@admin.register(AccessAttempt)
class AccessAttemptAdmin(BaseAccessAttemptAdmin):
    actions = ["unlock"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # shown and unlocked, never edited

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
class TeamAdmin(AuditedAdmin):
    search_fields = ["name"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "by", "action", "content_type", "object_repr"]
    list_filter = ["action", "content_type", "via"]
    list_select_related = ["actor", "content_type"]
    raw_id_fields = ["actor"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # The trail is the record of who did what: nobody deletes it, superusers
        # included (PIPL anonymising hides old values in place, see personal_data).
        return False

    @admin.display(description=_("by"), ordering="actor")
    def by(self, obj: AuditEntry) -> str:
        return obj.actor_label


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("scopes"),
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = ApiKey
        fields = ["name", "acts_as", "scopes", "rate_per_minute"]
        help_texts = {
            "acts_as": _(
                "The key sees, masks and may do what this user's role allows, "
                "narrowed further by its scopes."
            ),
            "rate_per_minute": _("Calls over this in a minute get 429."),
        }

    def clean_acts_as(self):
        user = self.cleaned_data["acts_as"]
        if user is not None and not user.is_active:
            raise forms.ValidationError(_("This user is inactive."))
        return user

    def clean_rate_per_minute(self):
        rate = self.cleaned_data["rate_per_minute"]
        if rate < 1:
            raise forms.ValidationError(_("At least one call a minute."))
        return rate


def _secret_page(request: HttpRequest, admin_site, key: ApiKey, secret: str):
    """The one page that shows a key's secret: the answer to the POST that made it
    (never a redirect, a message or a later page; not cached)."""
    response = TemplateResponse(
        request,
        "api/admin_key_secret.html",
        {
            **admin_site.each_context(request),
            "title": _("The key for %(name)s") % {"name": key.name},
            "key": key,
            "secret": secret,
            "opts": ApiKey._meta,
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Integration keys: created with their scopes and acts-as user, shown once,
    rotated, revoked (never deleted: the audit trail names them)."""

    form = ApiKeyForm
    change_form_template = "api/admin_key_change_form.html"
    list_display = [
        "name",
        "state",
        "scope_list",
        "acts_as",
        "role",
        "rate_per_minute",
        "last_used_at",
        "created_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name"]
    autocomplete_fields = ["acts_as"]
    readonly_fields = [
        "lookup",
        "created_by",
        "created_at",
        "rotated_at",
        "revoked_at",
        "last_used_at",
    ]
    actions = ["revoke_selected"]

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .select_related("acts_as")
            .prefetch_related("acts_as__groups")
        )

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None):
        fields = ["name", "acts_as", "scopes", "rate_per_minute"]
        return fields if obj is None else [*fields, *self.readonly_fields]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description=_("state"))
    def state(self, obj: ApiKey) -> str:
        if obj.revoked_at:
            return str(_("Revoked"))
        if not obj.acts_as.is_active:
            return str(_("User inactive"))
        return str(_("Active"))

    @admin.display(description=_("scopes"))
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    @admin.display(description=_("role"))
    def role(self, obj: ApiKey) -> str:
        names = {group.name for group in obj.acts_as.groups.all()}
        return ", ".join(str(role.label) for role in Role if role.value in names)

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change) -> None:
        if change:
            before = snapshot(ApiKey.objects.get(pk=obj.pk), AUDITED)
            api_key_update(actor=request.user, key=obj, before=before)
            return
        key, secret = api_key_create(
            actor=request.user,
            name=obj.name,
            acts_as=obj.acts_as,
            scopes=obj.scopes,
            rate_per_minute=obj.rate_per_minute,
        )
        obj.pk, obj.lookup, obj.digest = key.pk, key.lookup, key.digest
        obj.created_by, obj.created_at = key.created_by, key.created_at
        obj._state.adding = False
        request._api_key_secret = secret  # for response_add, this request only

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue=None):
        secret = getattr(request, "_api_key_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return _secret_page(request, self.admin_site, obj, secret)

    def get_urls(self):
        def wrap(view):
            return self.admin_site.admin_view(view)

        return [
            path(
                "<path:object_id>/rotate/",
                wrap(self.rotate_view),
                name="crm_site_apikey_rotate",
            ),
            path(
                "<path:object_id>/revoke/",
                wrap(self.revoke_view),
                name="crm_site_apikey_revoke",
            ),
            *super().get_urls(),
        ]

    def _confirm(self, request: HttpRequest, key: ApiKey, what: str, question):
        return TemplateResponse(
            request,
            "api/admin_key_confirm.html",
            {
                **self.admin_site.each_context(request),
                "title": question,
                "key": key,
                "what": what,
                "opts": ApiKey._meta,
            },
        )

    def _key_for_change(self, request: HttpRequest, object_id: str) -> ApiKey:
        key = get_object_or_404(ApiKey, pk=object_id)
        if not self.has_change_permission(request, key):
            raise PermissionDenied
        return key

    def rotate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        key = self._key_for_change(request, object_id)
        if key.revoked_at:
            messages.error(request, _("A revoked key cannot be rotated."))
            return HttpResponseRedirect(
                reverse("admin:crm_site_apikey_change", args=[key.pk])
            )
        if request.method != "POST":
            return self._confirm(
                request,
                key,
                "rotate",
                _("Rotate the key of %(name)s? The current key stops working at once.")
                % {"name": key.name},
            )
        secret = api_key_rotate(actor=request.user, key=key)
        key.refresh_from_db()
        return _secret_page(request, self.admin_site, key, secret)

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        key = self._key_for_change(request, object_id)
        if request.method != "POST":
            return self._confirm(
                request,
                key,
                "revoke",
                _("Revoke the key of %(name)s? It stops working at once, for good.")
                % {"name": key.name},
            )
        if api_key_revoke(actor=request.user, key=key):
            messages.success(request, _("The key was revoked."))
        return HttpResponseRedirect(reverse("admin:crm_site_apikey_changelist"))

    @admin.action(description=_("Revoke the selected keys"), permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset) -> None:
        count = sum(api_key_revoke(actor=request.user, key=key) for key in queryset)
        messages.success(request, _("%(count)s keys revoked.") % {"count": count})


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    """Written by the worker and beat themselves (crm_site.health): a row typed or
    removed here would hide a component that stopped."""

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
class TargetAdmin(AuditedAdmin):
    form = TargetForm
    list_display = ["figure_label", "month", "project", "team", "value"]
    list_filter = ["figure", "team", "project"]
    date_hierarchy = "month"

    @admin.display(description=_("figure"), ordering="figure")
    def figure_label(self, obj: Target) -> str:
        return str(dict(overview.figure_choices()).get(obj.figure, obj.figure))
