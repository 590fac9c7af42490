"""The administrators' screens for webhooks, in the admin site (crm_site.admin_site):
subscriptions (secret shown once, events, pause and resume, rotate) and the delivery
log of each (status, response, attempts; replay)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from crm_site.admin import AuditedDeletes
from crm_site.api.models import ApiKey
from crm_site.webhooks import event_type, event_types, services, targets
from crm_site.webhooks.models import WebhookDelivery, WebhookSubscription


class SubscriptionForm(forms.ModelForm):
    url = forms.URLField(label=_("target URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("events"), widget=forms.CheckboxSelectMultiple, choices=()
    )

    class Meta:
        model = WebhookSubscription
        fields = ["api_key", "url", "events", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["events"].choices = [
            (e.name, f"{e.name} — {e.label}") for e in event_types()
        ]
        self.fields["api_key"].queryset = ApiKey.objects.usable().filter(
            scopes__contains=["webhooks"]
        )
        self.fields["api_key"].help_text = _(
            "A key with the scope “Receive webhooks”; events are sent only about what "
            "its user may see."
        )
        self.fields["url"].help_text = _(
            "https:// to a public address; http and private addresses only when the "
            "server allows them (WEBHOOK_ALLOW_PRIVATE_TARGETS)."
        )
        if self.instance.pk:
            # A subscription stays with its key (its deliveries and secret do too).
            self.fields["api_key"].disabled = True

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            targets.check_url(url)
        except targets.TargetRefused as exc:
            raise forms.ValidationError(str(exc)) from None
        return url

    def clean(self):
        cleaned = super().clean()
        key = cleaned.get("api_key")
        if key is not None:
            user = key.acts_as
            refused = [
                name
                for name in cleaned.get("events") or []
                if not user.has_perm(event_type(name).permission)
            ]
            if refused:
                self.add_error(
                    "events",
                    _("The key's user may not see what these are about: %(events)s")
                    % {"events": ", ".join(refused)},
                )
        return cleaned


def _secrets_page(
    request: HttpRequest, shown: list[tuple[WebhookSubscription, str]]
) -> TemplateResponse:
    return TemplateResponse(
        request,
        "webhooks/secret_shown.html",
        {
            **admin.site.each_context(request),
            "title": _("Signing secret"),
            "shown": shown,
            "list_url": reverse("admin:crm_site_webhooksubscription_changelist"),
        },
    )


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(AuditedDeletes):
    form = SubscriptionForm
    list_display = [
        "api_key",
        "url",
        "events_shown",
        "status",
        "consecutive_failures",
        "paused_at",
        "deliveries_link",
    ]
    list_filter = ["status", "api_key"]
    list_select_related = ["api_key"]
    readonly_fields = [
        "status",
        "paused_at",
        "paused_reason",
        "consecutive_failures",
        "failing_since",
        "created_at",
        "secret_rotated_at",
        "deliveries_link",
    ]
    actions = ["pause", "resume", "rotate_secret"]

    def get_fields(self, request, obj=None):
        if obj is None:  # the state appears once there is one
            return ["api_key", "url", "events", "description"]
        return super().get_fields(request, obj)

    @admin.display(description=_("events"))
    def events_shown(self, obj: WebhookSubscription) -> str:
        return ", ".join(obj.events)

    @admin.display(description=_("deliveries"))
    def deliveries_link(self, obj: WebhookSubscription) -> str:
        if not obj.pk:
            return "—"
        url = reverse("admin:crm_site_webhookdelivery_changelist")
        return format_html(
            '<a href="{}?subscription__id__exact={}">{}</a>',
            url,
            obj.pk,
            _("Delivery log"),
        )

    def save_model(self, request, obj, form, change) -> None:
        data = form.cleaned_data
        if change:
            services.subscription_update(
                actor=request.user,
                subscription=obj,
                url=data["url"],
                events=data["events"],
                description=data["description"],
            )
            return
        created, secret = services.subscription_create(
            actor=request.user,
            api_key=data["api_key"],
            url=data["url"],
            events=data["events"],
            description=data["description"],
        )
        obj.pk = created.pk
        request._webhook_secret = (created, secret)

    def response_add(self, request, obj, post_url_continue=None) -> HttpResponse:
        # The only time the secret is seen: on this page, never stored in a message.
        return _secrets_page(request, [request._webhook_secret])

    @admin.action(description=_("Pause (deliveries wait)"), permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = sum(
            services.subscription_pause(actor=request.user, subscription=s)
            for s in queryset
        )
        messages.success(
            request,
            ngettext(
                "%(count)s subscription paused.",
                "%(count)s subscriptions paused.",
                count,
            )
            % {"count": count},
        )

    @admin.action(description=_("Resume (send what waited)"), permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet) -> None:
        waiting = 0
        for subscription in queryset:
            waiting += services.subscription_resume(
                actor=request.user, subscription=subscription
            )
        messages.success(
            request,
            _("Resumed; %(count)s waiting deliveries are being sent.")
            % {"count": waiting},
        )

    @admin.action(description=_("Rotate signing secret"), permissions=["change"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet):
        shown = [
            (s, services.secret_rotate(actor=request.user, subscription=s))
            for s in queryset.select_related("api_key")
        ]
        return _secrets_page(request, shown)


class EventTypeFilter(admin.SimpleListFilter):
    title = _("event")
    parameter_name = "event_type"

    def lookups(self, request, model_admin):
        return [(e.name, e.name) for e in event_types()]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(event__type=self.value())
        return queryset


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "event_type",
        "status",
        "response_code",
        "attempts",
        "response_ms",
        "subscription_shown",
        "replay_of_id",
    ]
    list_filter = ["status", EventTypeFilter, "subscription"]
    list_select_related = ["event", "subscription__api_key"]
    search_fields = ["=event__id"]
    list_per_page = 50
    show_full_result_count = False
    ordering = ["-created_at", "-pk"]
    actions = ["replay"]
    fields = [
        "event_id",
        "event_type",
        "subscription",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "response_code",
        "response_ms",
        "response_excerpt",
        "error",
        "attempts_shown",
        "payload",
        "replay_of",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("event"), ordering="event__type")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.type

    @admin.display(description=_("subscription"), ordering="subscription")
    def subscription_shown(self, obj: WebhookDelivery) -> str:
        return f"{obj.subscription.api_key} #{obj.subscription_id}"

    @admin.display(description=_("replay of"))
    def replay_of_id(self, obj: WebhookDelivery) -> str:
        return obj.replay_of_id or ""

    @admin.display(description=_("payload"))
    def payload(self, obj: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.event.payload(), indent=2))

    @admin.display(description=_("attempt log"))
    def attempts_shown(self, obj: WebhookDelivery) -> str:
        return format_html_join(
            "",
            "<div>{} · {} · {} ms {}</div>",
            (
                (line["at"], line["code"] or "—", line["ms"], line["error"])
                for line in obj.attempt_log
            ),
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("crm_site.replay_webhookdelivery")

    @admin.action(
        description=_("Replay (send the event again, same webhook-id)"),
        permissions=["replay"],
    )
    def replay(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = 0
        for delivery in queryset:
            services.delivery_replay(actor=request.user, delivery=delivery)
            count += 1
        messages.success(
            request,
            ngettext(
                "%(count)s delivery queued again.",
                "%(count)s deliveries queued again.",
                count,
            )
            % {"count": count},
        )
