"""Follow-up records (跟进记录): every interaction the manager's customers had, newest
first, filterable by date, kind, channel and author; the explorer's interaction cells
drill here (customers.insight_interactions)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_site import insight
from crm_site.models import User
from crm_site.pagination import paginate
from crm_site.permissions import see_required
from crm_site.validation import InputLimits
from crm_site.widgets import DateInput
from customers.insight_interactions import SEE
from customers.models import Channel, Customer, Interaction


class InteractionFilterForm(InputLimits, forms.Form):
    start = forms.DateField(label=_("From"), required=False, widget=DateInput())
    end = forms.DateField(label=_("To"), required=False, widget=DateInput())
    kind = forms.ChoiceField(
        label=_("Kind"),
        required=False,
        choices=[("", _("All kinds")), *Interaction.Kind.choices],
    )
    channel = forms.ChoiceField(
        label=_("Channel"),
        required=False,
        choices=[("", _("All channels")), *Channel.choices],
    )
    consultant = forms.ModelChoiceField(
        label=_("Logged by"),
        required=False,
        queryset=User.objects.none(),
        empty_label=_("Anyone"),
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        authors = User.objects.filter(is_active=True).order_by(
            "last_name", "first_name", "username"
        )
        if not user.has_perm("customers.scope_all"):
            # A team's managers choose among their team.
            authors = authors.filter(pk__in=user.team_member_ids() or [user.pk])
        self.fields["consultant"].queryset = authors
        for name, field in self.fields.items():
            css = "form-select" if name in ("kind", "channel", "consultant") else ""
            field.widget.attrs["class"] = css or "form-control"

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            self.add_error("end", _("The end date is before the start date."))
        return data

    def filter(self, qs):
        data = self.cleaned_data
        # Bounds as instants (local midnights), so the occurred_at index serves them.
        if data.get("start"):
            qs = qs.filter(occurred_at__gte=_midnight(data["start"]))
        if data.get("end"):
            qs = qs.filter(occurred_at__lt=_midnight(data["end"] + timedelta(days=1)))
        if data.get("kind"):
            qs = qs.filter(kind=data["kind"])
        if data.get("channel"):
            qs = qs.filter(channel=data["channel"])
        if data.get("consultant"):
            qs = qs.filter(created_by=data["consultant"])
        return qs


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time()))


def visible_interactions(user):
    """The interactions of the customers this user may see (Customer.visible_to)."""
    if user.has_perm("customers.view_customer") and user.has_perm(
        "customers.scope_all"
    ):
        # Every live customer: a join, which lets the newest page be read on the
        # occurred_at index without hashing a million customers first.
        return Interaction.objects.filter(customer__merged_into__isnull=True)
    return Interaction.objects.filter(
        customer__in=Customer.objects.visible_to(user).values("pk")
    )


@see_required(SEE)
def interaction_list(request: HttpRequest) -> HttpResponse:
    form = InteractionFilterForm(request.GET or None, user=request.user)
    qs = visible_interactions(request.user)
    if form.is_bound and form.is_valid():
        qs = form.filter(qs)
    elif form.is_bound:
        qs = qs.none()
    # The rows behind an explorer cell (crm_site.insight).
    qs, drill = insight.drill_apply(request, qs)
    qs = qs.select_related("customer", "created_by").order_by("-occurred_at", "-id")
    page = paginate(qs, page=request.GET.get("page"))
    filters = request.GET.copy()
    filters.pop("page", None)
    return render(
        request,
        "customers/interaction_list.html",
        {
            "form": form,
            "page": page,
            "drill": drill,
            "filter_query": filters.urlencode(),
        },
    )
