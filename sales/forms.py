"""Sales forms: parse and normalise; services do the work."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm_site.models import User
from crm_site.validation import InputLimits, clean_date_range, parse_decimal
from crm_site.widgets import DateInput
from customers.forms import editable_customer_with_mobile
from customers.models import Customer
from customers.phones import InvalidPhone, normalize_phone
from sales.models import DealChange, Opportunity, Project, ProtectionRule, Receipt, Unit
from sales.selectors import reassign_targets
from sales.services.changes import unit_open_for_change
from sales.services.sessions import projects_visible_to


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("，", ",").split(",") if part.strip()]


class BuildingGenerateForm(InputLimits, forms.Form):
    """A building from a template: floors × units per floor, unlucky floors skipped."""

    project = forms.ModelChoiceField(
        label=_("Project"), queryset=Project.objects.filter(is_active=True)
    )
    name = forms.CharField(
        label=_("Building name"), max_length=50, help_text=_("e.g. 3号楼")
    )

    def __init__(self, *args, user: User | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if user is not None:
            # Only a project the manager's team sells (sessions.projects_visible_to).
            self.fields["project"].queryset = projects_visible_to(user).filter(
                is_active=True
            )

    floors = forms.IntegerField(label=_("Floors"), min_value=1, max_value=100)
    units_per_floor = forms.IntegerField(
        label=_("Units per floor"), min_value=1, max_value=30
    )
    # Bounded: each floor number is looked up in the list (inventory.floor_numbers),
    # and 30,000 of them cost seconds.
    skipped_floors = forms.CharField(
        label=_("Skipped floor numbers"),
        required=False,
        max_length=200,
        initial="4, 14",
        help_text=_("Comma separated; the floor above takes the next number."),
    )
    layouts = forms.CharField(
        label=_("Layout of each unit on a floor"),
        help_text=_(
            "Comma separated, one per unit position, e.g. 3室2厅2卫, 2室2厅1卫"
        ),
    )
    gross_areas = forms.CharField(
        label=_("Gross area of each unit on a floor (m²)"),
        help_text=_("Comma separated, one per unit position, e.g. 128.5, 89"),
    )
    base_price = forms.DecimalField(
        label=_("Price per m² on the first floor"),
        min_value=Decimal("1"),
        decimal_places=2,
    )
    floor_increment = forms.DecimalField(
        label=_("Price increase per floor (per m²)"),
        min_value=Decimal("0"),
        decimal_places=2,
        initial=Decimal("100"),
    )

    def clean_skipped_floors(self) -> list[int]:
        try:
            floors = [int(part) for part in _split(self.cleaned_data["skipped_floors"])]
        except ValueError:
            raise forms.ValidationError(
                gettext("Floor numbers are whole numbers.")
            ) from None
        if any(f < 1 for f in floors):
            raise forms.ValidationError(gettext("Floor numbers start at 1."))
        return floors

    def clean_layouts(self) -> list[str]:
        return _split(self.cleaned_data["layouts"])

    def clean_gross_areas(self) -> list[Decimal]:
        areas = [
            parse_decimal(part) for part in _split(self.cleaned_data["gross_areas"])
        ]
        if None in areas:
            raise forms.ValidationError(
                gettext("Areas are numbers such as 89 or 128.5.")
            )
        if any(a <= 0 or a > 2000 for a in areas):
            raise forms.ValidationError(gettext("An area is between 0 and 2000 m²."))
        return areas

    def clean(self) -> dict:
        cleaned = super().clean()
        count = cleaned.get("units_per_floor")
        for field in ("layouts", "gross_areas"):
            values = cleaned.get(field)
            if count and values is not None and len(values) != count:
                self.add_error(
                    field,
                    gettext("Give exactly %(count)s values, one per unit on a floor.")
                    % {"count": count},
                )
        project, name = cleaned.get("project"), cleaned.get("name")
        if project and name and project.buildings.filter(name=name).exists():
            self.add_error(
                "name", gettext("This project already has a building with this name.")
            )
        return cleaned


class GridFilterForm(InputLimits, forms.Form):
    layout = forms.CharField(required=False, max_length=50)
    price_min = forms.DecimalField(required=False, min_value=0, label=_("Price from"))
    price_max = forms.DecimalField(required=False, min_value=0, label=_("Price to"))


class ReserveForm(InputLimits, forms.Form):
    """Hold a unit for one of the user's open deals, or for a customer found by phone."""

    opportunity = forms.ModelChoiceField(
        label=_("For the deal"), queryset=Opportunity.objects.none(), required=False
    )
    mobile = forms.CharField(
        label=_("Or the customer's mobile"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )

    def __init__(self, *args, user: User, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.project = project
        self.fields["opportunity"].queryset = (
            Opportunity.objects.visible_to(user)
            .open()
            .filter(project=project, unit__isnull=True)
            .select_related("customer")
            .order_by("-stage_changed_at")
        )
        self.fields["opportunity"].label_from_instance = lambda o: (
            f"{o.customer.name} · {o.get_stage_display()}"
        )

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("opportunity") or self.errors:
            return cleaned
        raw = cleaned.get("mobile", "")
        if not raw:
            raise forms.ValidationError(
                gettext("Choose a deal or type the customer's mobile.")
            )
        try:
            mobile = normalize_phone(raw)
        except InvalidPhone as exc:
            self.add_error("mobile", str(exc))
            return cleaned
        try:
            cleaned["customer"] = editable_customer_with_mobile(self.user, mobile)
        except forms.ValidationError as exc:
            self.add_error("mobile", exc)
            cleaned["customer"] = None
        return cleaned


class OpportunityOpenForm(InputLimits, forms.Form):
    project = forms.ModelChoiceField(
        label=_("Project"), queryset=Project.objects.filter(is_active=True)
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only a project the user's team sells (sessions.projects_visible_to).
        self.fields["project"].queryset = projects_visible_to(user).filter(
            is_active=True
        )


class StageMoveForm(InputLimits, forms.Form):
    stage = forms.ChoiceField(label=_("Move to"), choices=Opportunity.Stage.choices)
    lost_reason = forms.ChoiceField(
        label=_("Lost reason"),
        choices=[("", "—"), *Opportunity.LostReason.choices],
        required=False,
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)

    def __init__(self, *args, opportunity: Opportunity, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        allowed = self.stages_offered(opportunity)
        self.fields["stage"].choices = [
            (value, label)
            for value, label in Opportunity.Stage.choices
            if value in allowed
        ]

    @staticmethod
    def stages_offered(opportunity: Opportunity) -> set[str]:
        """The moves the form offers this deal (the view checks the chosen one again
        against the locked row: the deal may have moved since it was read)."""
        allowed = Opportunity.TRANSITIONS.get(opportunity.stage, set())
        # Holding, subscribing and signing have their own steps (which move the
        # unit too), and a deal becomes paid when its money is in; after the
        # subscription, cancelling is a deal change a sales manager approves.
        allowed = allowed - {
            Opportunity.Stage.RESERVED,
            Opportunity.Stage.SUBSCRIBED,
            Opportunity.Stage.CONTRACTED,
            Opportunity.Stage.PAID,
        }
        if opportunity.stage in (
            Opportunity.Stage.SUBSCRIBED,
            Opportunity.Stage.CONTRACTED,
            Opportunity.Stage.PAID,
        ):
            allowed = set()
        if opportunity.stage == Opportunity.Stage.RESERVED and opportunity.unit_id:
            # A deal holding a unit goes back to visited by releasing the unit (its
            # own step, asked first): never at visited with the unit still held.
            allowed = allowed - {Opportunity.Stage.VISITED}
        return allowed

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("stage") == Opportunity.Stage.LOST and not cleaned.get(
            "lost_reason"
        ):
            self.add_error("lost_reason", gettext("Say why the deal was lost."))
        return cleaned


class ReassignForm(InputLimits, forms.Form):
    """A manager hands a protected registration at ``project`` to a consultant who
    sells it (sales.selectors.reassign_targets, which the customer panel offers)."""

    consultant = forms.ModelChoiceField(
        label=_("Consultant"), queryset=User.objects.none()
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        error_messages={"required": _("Give the reason for the reassignment.")},
    )

    def __init__(self, *args, user: User, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only a consultant who sells the project: an administrator without a team
        # chooses among its teams' consultants, and nobody hands a protection (and
        # the deals that follow it) to a team that cannot open the project.
        self.fields["consultant"].queryset = reassign_targets(
            user=user, project=project
        )


class DiscountForm(InputLimits, forms.Form):
    percent = forms.DecimalField(
        label=_("Discount (%)"),
        min_value=Decimal("0.01"),
        max_value=Decimal("99.99"),
        decimal_places=2,
    )
    reason = forms.CharField(label=_("Reason"), max_length=200)


class DiscountDecisionForm(InputLimits, forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", _("Approve")), ("reject", _("Reject"))]
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class PaymentPlanForm(InputLimits, forms.Form):
    scheme = forms.ChoiceField(
        label=_("Payment scheme"),
        choices=[
            ("mortgage", _("Down payment of 30 percent and a mortgage")),
            ("full", _("Full payment")),
            ("instalments", _("Three instalments")),
        ],
    )
    deposit = forms.DecimalField(
        label=_("Deposit"),
        min_value=Decimal("0.01"),
        decimal_places=2,
        initial=Decimal("50000"),
    )
    start = forms.DateField(
        label=_("First due date"),
        required=False,
        widget=DateInput(),
    )


class ReceiptForm(InputLimits, forms.Form):
    item = forms.ModelChoiceField(label=_("For"), queryset=None)
    amount = forms.DecimalField(
        label=_("Amount"), min_value=Decimal("0.01"), decimal_places=2
    )
    received_on = forms.DateField(label=_("Received on"), widget=DateInput())
    method = forms.ChoiceField(label=_("Method"), choices=Receipt.Method.choices)
    reference = forms.CharField(label=_("Reference"), max_length=100, required=False)

    def __init__(self, *args, opportunity: Opportunity, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["item"].queryset = opportunity.payment_items.all()
        self.fields["item"].label_from_instance = lambda i: (
            f"{i.sequence}. {i.get_kind_display()} · ¥{i.outstanding:,.0f}"
        )

    def clean_received_on(self):
        value = self.cleaned_data["received_on"]
        if value > timezone.localdate():
            raise forms.ValidationError(
                gettext("Money cannot be received in the future.")
            )
        return value


class DashboardFilterForm(InputLimits, forms.Form):
    start = forms.DateField(label=_("From"), required=False, widget=DateInput())
    end = forms.DateField(label=_("To"), required=False, widget=DateInput())
    project = forms.ModelChoiceField(
        label=_("Project"),
        queryset=Project.objects.all(),
        required=False,
        empty_label=_("All projects"),
    )

    def __init__(self, *args, user: User | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if user is not None:
            # The sales dashboard offers only a project the user's team sells
            # (sessions.projects_visible_to); the service dashboard, every project.
            self.fields["project"].queryset = projects_visible_to(user)

    def clean(self) -> dict:
        cleaned = super().clean()
        from sales.dashboard import default_window

        default_start, default_end = default_window()
        end = cleaned.get("end") or default_end
        start = cleaned.get("start") or (
            default_start
            if end == default_end
            else end.replace(day=1) - timedelta(days=60)
        )
        cleaned["start"], cleaned["end"] = clean_date_range(
            self,
            "start",
            "end",
            start=start,
            end=end,
            max_days=3 * 366,
            too_long=gettext("Choose at most three years."),
        )
        return cleaned


class DealChangeForm(InputLimits, forms.Form):
    kind = forms.ChoiceField(label=_("Kind of change"), choices=DealChange.Kind.choices)
    # Picked by building, floor and number (sales/_unit_picker.html), never from a
    # list of every unit: any unit of the project parses, clean_new_unit() says why a
    # taken one cannot be chosen (one held past its deadline is not taken).
    new_unit = forms.ModelChoiceField(
        label=_("New unit"),
        queryset=Unit.objects.none(),
        required=False,
        widget=forms.HiddenInput,
        error_messages={
            "invalid_choice": _("Choose an available unit of this deal's project.")
        },
    )
    new_buyer_mobile = forms.CharField(
        label=_("New buyer's mobile"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    reason = forms.CharField(label=_("Reason"), max_length=200)

    def __init__(self, *args, opportunity: Opportunity, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["new_unit"].queryset = Unit.objects.filter(
            building__project_id=opportunity.project_id
        ).select_related("building")

    def clean_new_unit(self) -> Unit | None:
        unit = self.cleaned_data.get("new_unit")
        if unit is not None and not unit_open_for_change(unit):
            raise forms.ValidationError(
                gettext("Unit %(unit)s is not available (%(status)s); choose another.")
                % {"unit": unit.number, "status": unit.get_status_display()}
            )
        return unit

    def clean(self) -> dict:
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind == DealChange.Kind.CHANGE_UNIT and not cleaned.get("new_unit"):
            self.add_error("new_unit", gettext("Choose the new unit."))
        if kind == DealChange.Kind.CHANGE_BUYER:
            raw = cleaned.get("new_buyer_mobile", "")
            try:
                mobile = normalize_phone(raw)
            except InvalidPhone as exc:
                self.add_error("new_buyer_mobile", str(exc))
                return cleaned
            try:
                customer = editable_customer_with_mobile(self.user, mobile)
            except forms.ValidationError as exc:
                self.add_error("new_buyer_mobile", exc)
                customer = None
            cleaned["new_customer"] = customer
        return cleaned


class PricePlanForm(InputLimits, forms.Form):
    mode = forms.ChoiceField(
        label=_("Adjust by"),
        choices=[
            ("percent", _("Percent of the list price")),
            ("per_m2", _("Yuan per m²")),
        ],
    )
    value = forms.DecimalField(
        label=_("Amount"),
        max_digits=10,
        decimal_places=2,
        help_text=_("Negative lowers the prices."),
    )
    floor_from = forms.IntegerField(label=_("From floor"), required=False, min_value=-5)
    floor_to = forms.IntegerField(label=_("To floor"), required=False, min_value=-5)
    layout = forms.CharField(label=_("Only layout"), max_length=50, required=False)
    reason = forms.CharField(label=_("Reason"), max_length=200)

    def clean_value(self):
        value = self.cleaned_data["value"]
        if value == 0:
            raise forms.ValidationError(
                gettext("An adjustment of zero changes nothing.")
            )
        if self.data.get("mode") == "percent" and not Decimal(
            "-50"
        ) <= value <= Decimal("50"):
            raise forms.ValidationError(gettext("Adjust by at most 50 % at a time."))
        return value

    def clean(self) -> dict:
        cleaned = super().clean()
        low, high = cleaned.get("floor_from"), cleaned.get("floor_to")
        if low is not None and high is not None and low > high:
            self.add_error(
                "floor_to", gettext("The top floor is below the bottom floor.")
            )
        return cleaned

    def criteria(self) -> dict:
        return {
            k: self.cleaned_data[k]
            for k in ("mode", "value", "floor_from", "floor_to", "layout")
        }


class UnitImportForm(forms.Form):
    project = forms.ModelChoiceField(label=_("Project"), queryset=Project.objects.all())

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects_visible_to(user)

    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "XLSX or CSV with the headers 楼栋, 房号, 楼层, 位置, 户型, 建筑面积, 套内面积, 朝向, 表价, 底价."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > 5 * 1024 * 1024:
            raise forms.ValidationError(gettext("The file is larger than 5 MB."))
        return upload


class ProtectionRuleForm(InputLimits, forms.ModelForm):
    class Meta:
        model = ProtectionRule
        fields = [
            "call_days",
            "visit_days",
            "follow_up_days",
            "warn_days",
            "daily_claim_cap",
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        for name in ("call_days", "visit_days", "follow_up_days"):
            value = cleaned.get(name)
            if value is not None and not 1 <= value <= 365:
                self.add_error(name, gettext("Between 1 and 365 days."))
        return cleaned


class CoBuyersForm(forms.Form):
    """Tick the household members who buy with the buyer."""

    co_buyers = forms.ModelMultipleChoiceField(
        label=_("Co-buyers"),
        queryset=Customer.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Members of the buyer's household; they are named on the documents."
        ),
    )

    def __init__(self, *args, candidates, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["co_buyers"].queryset = candidates
        self.fields["co_buyers"].label_from_instance = lambda c: (
            f"{c.name} · {c.get_household_role_display()}"
            if c.household_role
            else c.name
        )
