"""Forms of the member club: the members list's level filter, a points correction,
and the owner portal's recommendation of a friend."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from crm_site.validation import InputLimits
from marketing.models import ClubLevel
from marketing.partner_forms import MobileField

MAX_CORRECTION = 100_000


class MemberFilterForm(InputLimits, forms.Form):
    level = forms.ModelChoiceField(
        label=_("Level"),
        queryset=ClubLevel.objects.order_by("min_points"),
        required=False,
        empty_label=_("All levels"),
    )


class PointsCorrectionForm(InputLimits, forms.Form):
    points = forms.IntegerField(
        label=_("Points"),
        min_value=-MAX_CORRECTION,
        max_value=MAX_CORRECTION,
        help_text=_("Positive to add, negative to take away."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=200)

    def clean_points(self) -> int:
        points = self.cleaned_data["points"]
        if points == 0:
            raise forms.ValidationError(
                _("A correction adds or removes at least one point.")
            )
        return points

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Say why the points are corrected."))
        return reason


class RecommendFriendForm(InputLimits, forms.Form):
    """What an owner enters to recommend a friend: nothing more is asked."""

    friend_name = forms.CharField(label=_("Your friend's name"), max_length=100)
    friend_mobile = MobileField(label=_("Your friend's mobile"), max_length=30)
    friend_agreed = forms.BooleanField(
        label=_("My friend agreed to be contacted by the sales office about a home."),
        required=True,
        error_messages={
            "required": _(
                "Please recommend a friend only after they agreed to be contacted."
            )
        },
    )

    def clean_friend_name(self) -> str:
        name = self.cleaned_data["friend_name"].strip()
        if not name:
            raise forms.ValidationError(_("Enter your friend's name."))
        return name
