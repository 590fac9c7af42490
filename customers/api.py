"""The customers app's resources of the REST API: customers and their interactions.

Each call acts as the key's ``acts_as`` user and goes through what the UI goes
through: the same permission as the page or form (``required_perms``), the same row
scope (``visible_to`` / ``editable_by``, 404 outside), the same forms to parse and
normalise input, the same services to write (atomic, audited), and numbers masked by
the same helpers (``Customer.mobile_for``) as the pages show them to that user.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import OuterRef, Prefetch, QuerySet
from django.forms.models import model_to_dict
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from crm_site.api.fields import DateTimeField
from crm_site.api.pagination import Cursor
from crm_site.api.problems import Conflict
from crm_site.api.scopes import Scope
from crm_site.api.views import ApiViewSet
from crm_site.lookups import IdArray
from crm_site.models import User
from customers import services
from customers.forms import CustomerForm, InteractionForm
from customers.models import ContactPoint, Customer, Interaction, Tag
from customers.phones import InvalidPhone, format_phone, mask_phone, normalize_phone
from customers.querysets import digits_too_few, search_ids

# --------------------------------------------------------------------------- base


class ProblemSerializer(serializers.Serializer):
    """An RFC 9457 problem (crm_site.api.problems), for the schema."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    instance = serializers.CharField(required=False)
    errors = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()),
        required=False,
        help_text="Bad input: one {field, message} per problem.",
    )


class TwinProblemSerializer(ProblemSerializer):
    existing_id = serializers.IntegerField(
        allow_null=True,
        help_text="The customer who already has this mobile number, when the key's "
        "user may see them (null otherwise, as the UI names no customer then).",
    )
    owner = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="The owning consultant's name, when the customer is not visible.",
    )


class ChangeConflictProblemSerializer(TwinProblemSerializer):
    existing_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The mobile number is taken: as for registering a customer.",
    )
    survivor_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The customer was merged into another one after it was read: the "
        "customer that lives on, to send the change to, when the key's user may see "
        "them (null otherwise).",
    )
    survivor_url = serializers.CharField(
        required=False, allow_null=True, help_text="That customer's address here."
    )


PROBLEMS = {
    403: OpenApiResponse(ProblemSerializer, description="Scope or permission missing"),
    404: OpenApiResponse(ProblemSerializer, description="Not found in the row scope"),
}
INVALID = {422: OpenApiResponse(ProblemSerializer, description="Bad input")}


def field_errors(form) -> dict[str, list[str]]:
    """A Django form's errors keyed by field, as plain text (some carry a link)."""
    return {
        ("non_field_errors" if name == "__all__" else name): [
            strip_tags(str(message)) for message in messages
        ]
        for name, messages in form.errors.items()
    }


class Ref(serializers.Serializer):
    """Another record, by id and the name the UI shows for it."""

    id = serializers.IntegerField()
    name = serializers.CharField()

    def to_representation(self, instance) -> dict:
        name = getattr(instance, "display_name", None) or str(instance)
        return {"id": instance.pk, "name": name}


# --------------------------------------------------------------------- customers


class ContactPointSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ContactPoint.Kind.choices)
    kind_label = serializers.CharField()
    label = serializers.CharField()
    value = serializers.CharField(help_text="Phone numbers masked as the UI masks them")


class CustomerSerializer(serializers.ModelSerializer):
    """A customer as the key's user sees it on the customer page."""

    mobile = serializers.SerializerMethodField(
        help_text="Shown in full to the owning consultant and to roles that see "
        "numbers (customers.view_contact); masked (138****8000) otherwise."
    )
    mobile_masked = serializers.SerializerMethodField()
    id_number = serializers.SerializerMethodField()
    kind_label = serializers.CharField(source="get_kind_display")
    gender_label = serializers.CharField(source="get_gender_display")
    stage_label = serializers.CharField(source="get_stage_display")
    source_label = serializers.CharField(source="get_source_display")
    preferred_channel_label = serializers.CharField(
        source="get_preferred_channel_display"
    )
    consultant = Ref(
        source="assigned_consultant",
        allow_null=True,
        help_text="The owning consultant; null: the customer is in the public pool.",
    )
    tags = serializers.ListField(child=serializers.CharField(), source="tag_names")
    contact_points = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = [
            "id",
            "name",
            "kind",
            "kind_label",
            "mobile",
            "mobile_masked",
            "email",
            "gender",
            "gender_label",
            "company",
            "address",
            "id_type",
            "id_number",
            "stage",
            "stage_label",
            "source",
            "source_label",
            "preferred_channel",
            "preferred_channel_label",
            "consultant",
            "tags",
            "contact_points",
            "consent_sms",
            "consent_email",
            "consent_phone",
            "consent_service",
            "notes",
            "last_contact_at",
            "next_follow_up",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @property
    def user(self) -> User:
        return self.context["request"].user

    def get_mobile(self, customer: Customer) -> str:
        return customer.mobile_for(self.user)

    def get_mobile_masked(self, customer: Customer) -> bool:
        return bool(customer.mobile) and not customer.contact_visible_to(self.user)

    def get_id_number(self, customer: Customer) -> str:
        return customer.id_number_for(self.user)

    @extend_schema_field(ContactPointSerializer(many=True))
    def get_contact_points(self, customer: Customer) -> list[dict]:
        visible = customer.contact_visible_to(self.user)
        rows = []
        for point in customer.contact_points.all():
            value = point.value
            if point.kind in ContactPoint.PHONE_KINDS:
                value = format_phone(value) if visible else mask_phone(value)
            rows.append(
                {
                    "kind": point.kind,
                    "kind_label": str(point.get_kind_display()),
                    "label": point.label,
                    "value": value,
                }
            )
        return rows


class CustomerFilterSerializer(serializers.Serializer):
    phone = serializers.CharField(
        required=False,
        max_length=40,
        help_text="A phone number in any format (138 0013 8000, +86 138-0013-8000, "
        "8613800138000): the customer whose mobile or further number it is.",
    )
    q = serializers.CharField(
        required=False,
        max_length=100,
        help_text="The UI's search box: a name or part of it, pinyin or initials, a "
        "company, or three or more digits of a number.",
    )

    def validate_phone(self, value: str) -> str:
        try:
            return normalize_phone(value)
        except InvalidPhone as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate_q(self, value: str) -> str:
        if digits_too_few(value):
            raise serializers.ValidationError(
                gettext("Type at least three digits to search by phone number.")
            )
        return value


def _choices(model_field: str) -> list[tuple[str, Any]]:
    return Customer._meta.get_field(model_field).choices


class CustomerWriteSerializer(serializers.Serializer):
    """What a create or an update may send; the UI's customer form then checks it
    (the same normalising and rules: E.164 mobile, ID numbers, allowed consultants)."""

    # Blank text is the form's to refuse, with its own words, along with the rest.
    name = serializers.CharField(max_length=100, allow_blank=True)
    mobile = serializers.CharField(
        max_length=30,
        allow_blank=True,
        help_text="A mobile number in any format; stored as E.164.",
    )
    kind = serializers.ChoiceField(choices=_choices("kind"), required=False)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    gender = serializers.ChoiceField(
        choices=_choices("gender"), required=False, allow_blank=True
    )
    company = serializers.CharField(max_length=200, required=False, allow_blank=True)
    address = serializers.CharField(max_length=300, required=False, allow_blank=True)
    id_type = serializers.ChoiceField(
        choices=_choices("id_type"), required=False, allow_blank=True
    )
    id_number = serializers.CharField(max_length=40, required=False, allow_blank=True)
    source = serializers.ChoiceField(choices=_choices("source"), required=False)
    stage = serializers.ChoiceField(choices=_choices("stage"), required=False)
    preferred_channel = serializers.ChoiceField(
        choices=_choices("preferred_channel"), required=False, allow_blank=True
    )
    consultant = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="The owning consultant's user id; needs the right to assign "
        "customers (customers.assign_customer), as in the UI.",
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=50
    )
    notes = serializers.CharField(max_length=5000, required=False, allow_blank=True)


# The form's field for each API field that is named otherwise.
FORM_NAMES = {"consultant": "assigned_consultant", "tags": "tags_text"}
API_NAMES = {form: api for api, form in FORM_NAMES.items()}


def customer_queryset(user: User) -> QuerySet:
    """The customers the user may see, with what a response shows read in the same
    query (owner, tag names) or one more (contact points)."""
    return (
        Customer.objects.visible_to(user)
        .select_related("assigned_consultant")
        .prefetch_related(
            Prefetch(
                "contact_points",
                queryset=ContactPoint.objects.order_by("kind", "id"),
            )
        )
        .annotate(
            tag_names=ArraySubquery(
                Tag.objects.filter(customer=OuterRef("pk"))
                .order_by("name")
                .values("name")
            )
        )
    )


def _twin_conflict(existing: Customer, user: User) -> Conflict:
    """409 for a twin, saying what the UI's form says to this user: the customer
    when the user may see them, otherwise only whose customer it is."""
    if Customer.objects.visible_to(user).filter(pk=existing.pk).exists():
        return Conflict(
            f"{gettext('This mobile number already belongs to a customer:')} "
            f"{existing.name}",
            extra={"existing_id": existing.pk},
        )
    owner = existing.assigned_consultant
    if owner is not None:
        detail = gettext(
            "This mobile number already belongs to a customer of consultant %(owner)s."
        ) % {"owner": owner.display_name}
    else:
        detail = gettext("This mobile number already belongs to a customer.")
    return Conflict(
        detail,
        extra={
            "existing_id": None,
            "owner": owner.display_name if owner is not None else None,
        },
    )


def _merged_conflict(exc: services.CustomerMerged, user: User) -> Conflict:
    """409 for a change to a record a merge absorbed after the caller read it, as
    the customer page says it: the survivor's id and address when the user may see
    it (the change is to be sent there), otherwise neither."""
    survivor = exc.survivor_id
    if survivor is not None and not (
        Customer.objects.visible_to(user).filter(pk=survivor).exists()
    ):
        survivor = None
    return Conflict(
        gettext(
            "This customer was merged into another one meanwhile: nothing was saved "
            "here."
        ),
        extra={
            "survivor_id": survivor,
            "survivor_url": (
                reverse("api:customer-detail", args=[survivor])
                if survivor is not None
                else None
            ),
        },
    )


@extend_schema_view(
    list=extend_schema(
        summary="Find customers by phone number or name",
        parameters=[CustomerFilterSerializer],
        responses={200: CustomerSerializer(many=True), 403: PROBLEMS[403], **INVALID},
    ),
    retrieve=extend_schema(
        summary="A customer", responses={200: CustomerSerializer, **PROBLEMS}
    ),
    create=extend_schema(
        summary="Register a customer",
        request=CustomerWriteSerializer,
        responses={
            201: CustomerSerializer,
            403: PROBLEMS[403],
            409: OpenApiResponse(
                TwinProblemSerializer, description="The mobile number is taken"
            ),
            **INVALID,
        },
    ),
    partial_update=extend_schema(
        summary="Change a customer",
        request=CustomerWriteSerializer(partial=True),
        responses={
            200: CustomerSerializer,
            **PROBLEMS,
            409: OpenApiResponse(
                ChangeConflictProblemSerializer,
                description="The mobile number is taken, or the customer was merged "
                "into another one or anonymised after it was read",
            ),
            **INVALID,
        },
    ),
)
class CustomerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Customers: find by phone or name, read, register (a twin is 409), change."""

    serializer_class = CustomerSerializer
    required_scopes = {
        "list": Scope.CUSTOMERS_READ,
        "retrieve": Scope.CUSTOMERS_READ,
        "create": Scope.CUSTOMERS_WRITE,
        "partial_update": Scope.CUSTOMERS_WRITE,
    }
    # As the customer list and page, the new-customer form and the edit form.
    required_perms = {
        "list": "customers.view_customer",
        "retrieve": "customers.view_customer",
        "create": "customers.add_customer",
        "partial_update": "customers.change_customer",
    }

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # the schema's introspection
            return Customer.objects.none()
        qs = customer_queryset(self.request.user)
        if self.action != "list":
            return qs
        filters = self.query(CustomerFilterSerializer)
        # As the customer list: anonymised customers are never searched or listed.
        qs = qs.identifiable()
        if phone := filters.get("phone"):
            # The full number: its own indexed lookups (the mobile's unique index,
            # further numbers' (kind, value) index), then the user's scope on those ids.
            qs = qs.filter(pk__any_of=IdArray(search_ids(phone, user=None)))
        if text := filters.get("q"):
            qs = qs.search(text, user=self.request.user)
        return qs

    def create(self, request, *args, **kwargs) -> Response:
        data = self._checked(customer=None)
        with transaction.atomic():
            values = self._form_values(data, customer=None)
            try:
                customer = services.customer_create(actor=request.user, **values)
            except services.DuplicateCustomer as exc:
                raise _twin_conflict(exc.existing, request.user) from None
        customer = customer_queryset(request.user).filter(pk=customer.pk).first()
        if customer is None:
            # Registered for a consultant the key's user cannot see: say only that.
            return Response(status=status.HTTP_201_CREATED)
        return Response(
            self.get_serializer(customer).data, status=status.HTTP_201_CREATED
        )

    def partial_update(self, request, *args, **kwargs) -> Response:
        customer = self.get_object()
        if (
            not Customer.objects.editable_by(request.user)
            .filter(pk=customer.pk)
            .exists()
        ):
            raise PermissionDenied
        data = self._checked(customer=customer)
        with transaction.atomic():
            values = self._form_values(data, customer=customer)
            try:
                services.customer_update(
                    actor=request.user, customer=customer, **values
                )
            except services.DuplicateCustomer as exc:
                raise _twin_conflict(exc.existing, request.user) from None
            except services.CustomerMerged as exc:
                raise _merged_conflict(exc, request.user) from None
            except services.CustomerAnonymised:
                # Erased (PIPL) after the caller read it: nothing is written back.
                raise Conflict(
                    gettext(
                        "This customer's personal information was anonymised "
                        "meanwhile: nothing was saved."
                    )
                ) from None
        return Response(self.get_serializer(self.get_object()).data)

    def _checked(self, *, customer: Customer | None) -> dict:
        """The body's shape, the right to assign, and no twin (409 before 422, so a
        caller learns of the existing customer whatever else is wrong)."""
        data = dict(self.body(CustomerWriteSerializer, partial=customer is not None))
        if "consultant" in data and not self.request.user.has_perm(
            "customers.assign_customer"
        ):
            raise PermissionDenied
        if "mobile" in data:
            try:
                mobile = normalize_phone(data["mobile"], mobile_only=True)
            except InvalidPhone:
                pass  # the form says why
            else:
                existing = services.existing_with_mobile(
                    mobile, exclude_pk=customer.pk if customer else None
                )
                if existing is not None:
                    raise _twin_conflict(existing, self.request.user)
        return data

    def _form_values(self, data: dict, *, customer: Customer | None) -> dict:
        """The UI's customer form, bound to the record's values (a new customer's
        defaults) with the call's changes over them; its values for the service."""
        form = CustomerForm(user=self.request.user, instance=customer)
        names = [name for name in form.fields if name != "tags_text"]
        bound = {
            name: "" if value is None else value
            for name, value in model_to_dict(customer or Customer(), names).items()
        }
        bound["tags_text"] = ", ".join(
            tag.name for tag in (customer.tags.all() if customer else [])
        )
        for name, value in data.items():
            form_name = FORM_NAMES.get(name, name)
            if name == "tags":
                value = ", ".join(value)
            bound[form_name] = "" if value is None else value
        form = CustomerForm(bound, user=self.request.user, instance=customer)
        if not form.is_valid():
            raise serializers.ValidationError(
                {
                    API_NAMES.get(name, name): messages
                    for name, messages in field_errors(form).items()
                }
            )
        return form.changed_values()


# -------------------------------------------------------------------- interactions

#: What a person may log, as in the customer page's quick-log form.
LOGGABLE_KINDS = InteractionForm.base_fields["kind"].choices


class LinkSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="app_label.model, e.g. sales.opportunity")
    id = serializers.IntegerField()
    label = serializers.CharField()


class InteractionSerializer(serializers.ModelSerializer):
    """A timeline entry as the customer page shows it, in the caller's language."""

    customer = serializers.IntegerField(source="customer_id")
    kind_label = serializers.CharField(source="get_kind_display")
    channel_label = serializers.CharField(source="get_channel_display")
    author = Ref(
        source="created_by", allow_null=True, help_text="null: written by the system"
    )
    text = serializers.CharField(
        help_text="The entry in the caller's language (Accept-Language): the "
        "system's event rendered, then what the person wrote."
    )
    event = serializers.CharField(help_text="The system's event code, if any")
    params = serializers.DictField(help_text="The event's parameters")
    link = serializers.SerializerMethodField()

    class Meta:
        model = Interaction
        fields = [
            "id",
            "customer",
            "kind",
            "kind_label",
            "channel",
            "channel_label",
            "occurred_at",
            "author",
            "text",
            "event",
            "params",
            "link",
            "next_follow_up",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(LinkSerializer(allow_null=True))
    def get_link(self, interaction: Interaction) -> dict | None:
        if interaction.link_type_id is None or interaction.link_id is None:
            return None
        # ContentType's own cache: no query per row.
        content_type = ContentType.objects.get_for_id(interaction.link_type_id)
        return {
            "type": f"{content_type.app_label}.{content_type.model}",
            "id": interaction.link_id,
            "label": interaction.link_label,
        }


class InteractionFilterSerializer(serializers.Serializer):
    customer = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="The customer's id (required)"
    )


class InteractionWriteSerializer(serializers.Serializer):
    customer = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    kind = serializers.ChoiceField(
        choices=LOGGABLE_KINDS,
        help_text="call_in / call_out (a call), visit, wechat, email, sms, event, "
        "note; the channel follows from it as in the UI.",
    )
    summary = serializers.CharField(max_length=2000)
    occurred_at = DateTimeField(
        required=False, help_text="When it happened; now when left out"
    )
    next_follow_up = serializers.DateField(required=False, allow_null=True)

    def validate_occurred_at(self, value):
        # A little slack for the clocks of the systems that call.
        if value > timezone.now() + timedelta(minutes=5):
            raise serializers.ValidationError(_("This time is in the future."))
        return value


class TimelineCursor(Cursor):
    """Newest first, as the timeline: on its index (customer, -occurred_at, -id)."""

    ordering = ("-occurred_at", "-id")


@extend_schema_view(
    list=extend_schema(
        summary="A customer's timeline, newest first",
        parameters=[InteractionFilterSerializer],
        responses={200: InteractionSerializer(many=True), **PROBLEMS, **INVALID},
    ),
    create=extend_schema(
        summary="Log a call, visit, WeChat or e-mail message",
        request=InteractionWriteSerializer,
        responses={201: InteractionSerializer, **PROBLEMS, **INVALID},
    ),
)
class InteractionViewSet(mixins.ListModelMixin, ApiViewSet):
    """The customers' timelines: read one, log a touch point on one."""

    serializer_class = InteractionSerializer
    pagination_class = TimelineCursor
    required_scopes = {
        "list": Scope.CUSTOMERS_READ,
        "create": Scope.INTERACTIONS_WRITE,
    }
    # As the customer page's timeline and its quick-log form.
    required_perms = {
        "list": "customers.view_customer",
        "create": "customers.change_customer",
    }

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # the schema's introspection
            return Interaction.objects.none()
        customer_id = self.query(InteractionFilterSerializer)["customer"]
        customer = self._customer(customer_id)
        return Interaction.objects.filter(customer=customer).select_related(
            "created_by"
        )

    def _customer(self, pk: int) -> Customer:
        customer = Customer.objects.visible_to(self.request.user).filter(pk=pk).first()
        if customer is None:
            raise Http404
        return customer

    def create(self, request, *args, **kwargs) -> Response:
        data = self.body(InteractionWriteSerializer)
        customer = self._customer(data["customer"])
        if (
            not Customer.objects.editable_by(request.user)
            .filter(pk=customer.pk)
            .exists()
        ):
            raise PermissionDenied
        form = InteractionForm(
            {
                "kind": data["kind"],
                "summary": data["summary"],
                "next_follow_up": data.get("next_follow_up") or "",
            }
        )
        if not form.is_valid():
            raise serializers.ValidationError(field_errors(form))
        interaction = services.interaction_log(
            customer=customer,
            kind=form.cleaned_data["kind"],
            channel=form.channel,
            summary=form.cleaned_data["summary"],
            actor=request.user,
            occurred_at=data.get("occurred_at"),
            next_follow_up=form.cleaned_data["next_follow_up"],
        )
        return Response(
            self.get_serializer(interaction).data, status=status.HTTP_201_CREATED
        )


__all__ = ["CustomerViewSet", "InteractionViewSet"]
